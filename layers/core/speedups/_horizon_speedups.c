/* The ingest core's per-line fast path, in C: `horizon.ingest.validator` uses it when built.
 *
 * It decides only the ordinary lines and hands everything else to the pure-Python validator,
 * which stays the reference for the rules (see its docstring and ARCHITECTURE.md):
 *
 *   line_validator(loads, fallback) -> validate(raw) -> (entry, None) | fallback(raw)
 *
 * `validate` parses with `loads` (orjson.loads) and returns exactly what the Python validator
 * returns for a line whose known fields have the right types, whose timestamp has one of the
 * common shapes `YYYY-MM-DDThh:mm:ss[.mmm][Z|±hh:mm]`, and whose other values are strings,
 * integers, booleans, nulls or storable floats. Any other line -- not JSON, not an object, a
 * null or mistyped known field, another timestamp shape, a nested or unstorable attribute, a
 * rule broken -- goes to `fallback(raw)` unchanged, which parses it again and names the reason.
 * So this file adds speed, never a rule: `tests/unit/ingest/test_speedups.py` checks both agree.
 *
 * Built against the stable ABI (Python 3.11 and newer: one build serves the local Python and
 * Lambda's), see `layers/core/speedups/build.py`.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* DynamoDB numbers: magnitude in [1e-130, 9.99..e125], or zero (as the Python validator). */
#define DYNAMO_MIN 1e-130
#define DYNAMO_MAX 9.9999999999999e125

static PyObject *key_timestamp, *key_timestamp_ms, *key_attributes;
static PyObject *key_http_status, *key_response_time_ms, *key_error_code;
static const char *const string_key_names[] = {
    "level", "message", "service", "api_id", "endpoint", "event_type", "version_id",
};
#define STRING_KEYS 7
static PyObject *string_keys[STRING_KEYS];
static PyObject *known_keys; /* frozenset of the eleven known keys */

typedef struct {
    PyObject_HEAD
    PyObject *loads;
    PyObject *fallback;
} Validator;

/* -- timestamps ------------------------------------------------------------------------------ */

static int digits(const char *text, int count, int *out) {
    int value = 0;
    for (int i = 0; i < count; i++) {
        char c = text[i];
        if (c < '0' || c > '9') return 0;
        value = value * 10 + (c - '0');
    }
    *out = value;
    return 1;
}

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))) return 29;
    return days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t year, int month, int day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *year, int *month, int *day) {
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t shifted_month = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * shifted_month + 2) / 5 + 1);
    *month = (int)(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static void put2(char *out, int value) {
    out[0] = (char)('0' + value / 10);
    out[1] = (char)('0' + value % 10);
}

/* Read `text` (length `size`) as `YYYY-MM-DDThh:mm:ss[.mmm][Z|±hh:mm]`; on success write the
 * instant's epoch milliseconds and its normalized text (`YYYY-MM-DDThh:mm:ss.mmmZ`, UTC, 24
 * bytes) and return 1. Return 0 for any other shape or an impossible date or time: the Python
 * validator then decides (it accepts more shapes, and names the reason for a bad one). */
static int read_timestamp(const char *text, Py_ssize_t size, int64_t *epoch_ms, char *normalized) {
    int year, month, day, hour, minute, second, millis = 0;
    if (size < 19 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
        text[16] != ':')
        return 0;
    if (!digits(text, 4, &year) || !digits(text + 5, 2, &month) || !digits(text + 8, 2, &day) ||
        !digits(text + 11, 2, &hour) || !digits(text + 14, 2, &minute) ||
        !digits(text + 17, 2, &second))
        return 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return 0;
    Py_ssize_t position = 19;
    if (size >= 23 && text[19] == '.') {
        if (!digits(text + 20, 3, &millis)) return 0;
        position = 23;
    }
    int offset_minutes = 0;
    Py_ssize_t zone = size - position;
    if (zone == 1) {
        if (text[position] != 'Z') return 0;
    } else if (zone == 6) {
        const char *sign = text + position;
        int offset_hours, offset_mins;
        if ((*sign != '+' && *sign != '-') || sign[3] != ':' || !digits(sign + 1, 2, &offset_hours) ||
            !digits(sign + 4, 2, &offset_mins) || offset_hours > 23 || offset_mins > 59)
            return 0;
        offset_minutes = (offset_hours * 60 + offset_mins) * (*sign == '-' ? -1 : 1);
    } else if (zone != 0) { /* no zone means UTC */
        return 0;
    }
    int64_t local_ms = ((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60000 +
                       second * 1000 + millis;
    int64_t utc_ms = local_ms - (int64_t)offset_minutes * 60000;
    int64_t days = utc_ms >= 0 ? utc_ms / 86400000 : -((-utc_ms + 86399999) / 86400000);
    int64_t of_day = utc_ms - days * 86400000;
    int64_t utc_year;
    int utc_month, utc_day;
    civil_from_days(days, &utc_year, &utc_month, &utc_day);
    if (utc_year < 1 || utc_year > 9999) return 0; /* out of datetime's range */
    put2(normalized, (int)(utc_year / 100));
    put2(normalized + 2, (int)(utc_year % 100));
    normalized[4] = '-';
    put2(normalized + 5, utc_month);
    normalized[7] = '-';
    put2(normalized + 8, utc_day);
    normalized[10] = 'T';
    put2(normalized + 11, (int)(of_day / 3600000));
    normalized[13] = ':';
    put2(normalized + 14, (int)(of_day / 60000 % 60));
    normalized[16] = ':';
    put2(normalized + 17, (int)(of_day / 1000 % 60));
    normalized[19] = '.';
    normalized[20] = (char)('0' + of_day % 1000 / 100);
    put2(normalized + 21, (int)(of_day % 100));
    normalized[23] = 'Z';
    *epoch_ms = utc_ms;
    return 1;
}

/* -- fields ---------------------------------------------------------------------------------- */

static int storable_float(double value) {
    double magnitude = value < 0 ? -value : value;
    return magnitude == 0 || (magnitude >= DYNAMO_MIN && magnitude <= DYNAMO_MAX);
}

/* 1: a known field is absent or ordinary (counted in *present); 0: not; -1: error set. */
static int check_known(PyObject *data, Py_ssize_t *present) {
    PyObject *value;
    long long number;
    int overflow;
    for (int i = 0; i < STRING_KEYS; i++) {
        value = PyDict_GetItemWithError(data, string_keys[i]);
        if (value == NULL) {
            if (PyErr_Occurred()) return -1;
            continue;
        }
        if (!PyUnicode_CheckExact(value)) return 0;
        ++*present;
    }
    value = PyDict_GetItemWithError(data, key_http_status);
    if (value != NULL) {
        if (!PyLong_CheckExact(value)) return 0;
        number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || number < 100 || number > 599) return 0;
        ++*present;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    value = PyDict_GetItemWithError(data, key_response_time_ms);
    if (value != NULL) {
        if (PyFloat_CheckExact(value)) {
            double elapsed = PyFloat_AsDouble(value);
            if (!(elapsed >= 0 && storable_float(elapsed))) return 0;
        } else if (PyLong_CheckExact(value)) {
            number = PyLong_AsLongLongAndOverflow(value, &overflow);
            if (overflow || number < 0) return 0;
        } else {
            return 0;
        }
        ++*present;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    value = PyDict_GetItemWithError(data, key_error_code);
    if (value != NULL) {
        if (!PyLong_CheckExact(value)) return 0;
        ++*present;
    } else if (PyErr_Occurred()) {
        return -1;
    }
    return 1;
}

/* A scalar DynamoDB can store: a string, an integer, a boolean, null or a storable float. */
static int storable_scalar(PyObject *value) {
    if (PyFloat_CheckExact(value)) return storable_float(PyFloat_AsDouble(value));
    return PyUnicode_CheckExact(value) || PyLong_CheckExact(value) || PyBool_Check(value) ||
           value == Py_None;
}

/* A non-empty string key (JSON keys are strings; DynamoDB refuses empty ones). */
static int storable_key(PyObject *key) {
    return PyUnicode_CheckExact(key) && PyObject_Length(key) > 0;
}

/* An attribute value this path accepts: a storable scalar, or an object of storable keys and
 * scalars (a request's {"ip": ..., "ua": ...}). Anything deeper goes to the Python validator. */
static int ordinary_attribute(PyObject *value) {
    if (!PyDict_CheckExact(value)) return storable_scalar(value);
    PyObject *key, *item;
    Py_ssize_t position = 0;
    while (PyDict_Next(value, &position, &key, &item)) {
        if (!storable_key(key) || !storable_scalar(item)) return 0;
    }
    return 1;
}

/* Move the keys that are not known fields into a new dict (NULL with no error: not ordinary). */
static PyObject *take_attributes(PyObject *data) {
    PyObject *attributes = PyDict_New();
    if (attributes == NULL) return NULL;
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (PyDict_Next(data, &position, &key, &value)) {
        int known = PySet_Contains(known_keys, key);
        if (known < 0) goto error;
        if (known) continue;
        /* An empty key, a list, deeper nesting, an unstorable float: the Python validator. */
        if (!storable_key(key) || !ordinary_attribute(value)) goto not_ordinary;
        if (PyDict_SetItem(attributes, key, value) < 0) goto error;
    }
    position = 0;
    while (PyDict_Next(attributes, &position, &key, &value)) {
        if (PyDict_DelItem(data, key) < 0) goto error;
    }
    return attributes;
not_ordinary:
    Py_DECREF(attributes);
    return NULL;
error:
    Py_DECREF(attributes);
    return NULL;
}

/* -- the validator --------------------------------------------------------------------------- */

static PyObject *call_fallback(Validator *self, PyObject *raw) {
    return PyObject_CallFunctionObjArgs(self->fallback, raw, NULL);
}

static PyObject *Validator_call(PyObject *callable, PyObject *args, PyObject *kwargs) {
    Validator *self = (Validator *)callable;
    PyObject *raw;
    if (kwargs != NULL && PyDict_Size(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "validate takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "validate", 1, 1, &raw)) return NULL;

    PyObject *data = PyObject_CallFunctionObjArgs(self->loads, raw, NULL);
    if (data == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) return NULL;
        PyErr_Clear();
        return call_fallback(self, raw); /* not JSON: the fallback names why */
    }
    if (!PyDict_CheckExact(data)) goto fallback;
    PyObject *timestamp = PyDict_GetItemWithError(data, key_timestamp);
    if (timestamp == NULL) {
        if (PyErr_Occurred()) goto error;
        goto fallback;
    }
    if (!PyUnicode_CheckExact(timestamp)) goto fallback;
    Py_ssize_t present = 1;
    int ordinary = check_known(data, &present);
    if (ordinary < 0) goto error;
    if (!ordinary) goto fallback;

    Py_ssize_t text_size;
    const char *text = PyUnicode_AsUTF8AndSize(timestamp, &text_size);
    if (text == NULL) {
        PyErr_Clear(); /* e.g. a lone surrogate: not a timestamp this path reads */
        goto fallback;
    }
    int64_t epoch_ms;
    char normalized[24];
    if (!read_timestamp(text, text_size, &epoch_ms, normalized)) goto fallback;

    PyObject *attributes = NULL;
    if (present < PyDict_Size(data)) {
        attributes = take_attributes(data);
        if (attributes == NULL) {
            if (PyErr_Occurred()) goto error;
            goto fallback;
        }
    }
    /* Written in the order the Python validator writes them (the entry's key order). */
    if (!(text_size == 24 && memcmp(text, normalized, 24) == 0)) {
        PyObject *stored = PyUnicode_FromStringAndSize(normalized, 24);
        if (stored == NULL || PyDict_SetItem(data, key_timestamp, stored) < 0) {
            Py_XDECREF(stored);
            Py_XDECREF(attributes);
            goto error;
        }
        Py_DECREF(stored);
    }
    PyObject *instant = PyLong_FromLongLong(epoch_ms);
    if (instant == NULL || PyDict_SetItem(data, key_timestamp_ms, instant) < 0) {
        Py_XDECREF(instant);
        Py_XDECREF(attributes);
        goto error;
    }
    Py_DECREF(instant);
    if (attributes != NULL) {
        int failed = PyDict_SetItem(data, key_attributes, attributes) < 0;
        Py_DECREF(attributes);
        if (failed) goto error;
    }
    PyObject *result = PyTuple_Pack(2, data, Py_None);
    Py_DECREF(data);
    return result;

fallback:
    Py_DECREF(data);
    return call_fallback(self, raw);
error:
    Py_DECREF(data);
    return NULL;
}

static void Validator_dealloc(PyObject *callable) {
    Validator *self = (Validator *)callable;
    PyTypeObject *type = Py_TYPE(callable);
    Py_XDECREF(self->loads);
    Py_XDECREF(self->fallback);
    freefunc free_slot = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_slot(callable);
    Py_DECREF(type);
}

static PyType_Slot validator_slots[] = {
    {Py_tp_call, Validator_call},
    {Py_tp_dealloc, Validator_dealloc},
    {Py_tp_doc, "validate(raw) -> (entry, None) | fallback(raw)"},
    {0, NULL},
};

static PyType_Spec validator_spec = {
    .name = "_horizon_speedups.Validator",
    .basicsize = sizeof(Validator),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = validator_slots,
};

static PyObject *validator_type;

static PyObject *line_validator(PyObject *module, PyObject *args) {
    PyObject *loads, *fallback;
    if (!PyArg_UnpackTuple(args, "line_validator", 2, 2, &loads, &fallback)) return NULL;
    if (!PyCallable_Check(loads) || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "line_validator(loads, fallback) takes two callables");
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)validator_type, Py_tp_alloc);
    Validator *self = (Validator *)alloc((PyTypeObject *)validator_type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(loads);
    Py_INCREF(fallback);
    self->loads = loads;
    self->fallback = fallback;
    return (PyObject *)self;
}

/* -- the segment aggregator's columns ------------------------------------------------------- */

static PyObject *key_api_id, *key_endpoint, *key_event_type, *key_version_id;
static PyObject *minute_ms; /* 60_000 */

/* Append `value` (or None when absent) to `column`; -1 on error. */
static int append_field(PyObject *column, PyObject *entry, PyObject *key) {
    PyObject *value = PyDict_GetItemWithError(entry, key);
    if (value == NULL) {
        if (PyErr_Occurred()) return -1;
        value = Py_None;
    }
    return PyList_Append(column, value);
}

/* Append the entry's value of `key` and its instant to a keyed part, when it has one. */
static int append_keyed(PyObject *values, PyObject *instants, PyObject *entry, PyObject *key,
                        PyObject *instant) {
    PyObject *value = PyDict_GetItemWithError(entry, key);
    if (value == NULL) return PyErr_Occurred() ? -1 : 0;
    if (value == Py_None) return 0;
    if (PyList_Append(values, value) < 0) return -1;
    return PyList_Append(instants, instant);
}

/* add_columns(numbered, apis, endpoints, statuses, minutes, elapsed, event_types,
 *             event_instants, error_codes, code_instants) -> bool
 *
 * What `SegmentAggregator._reduce` does with C-level passes, in one pass: append each entry's
 * rollup fields (None where absent) and minute, and its event_type and error_code with its
 * instant where present. Returns whether an entry has a version_id (an anchor, which the
 * Python side records). */
static PyObject *add_columns(PyObject *module, PyObject *args) {
    PyObject *numbered, *apis, *endpoints, *statuses, *minutes, *elapsed;
    PyObject *event_types, *event_instants, *error_codes, *code_instants;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!O!O!:add_columns", &PyList_Type, &numbered,
                          &PyList_Type, &apis, &PyList_Type, &endpoints, &PyList_Type, &statuses,
                          &PyList_Type, &minutes, &PyList_Type, &elapsed, &PyList_Type,
                          &event_types, &PyList_Type, &event_instants, &PyList_Type, &error_codes,
                          &PyList_Type, &code_instants))
        return NULL;
    int anchors = 0;
    Py_ssize_t count = PyList_Size(numbered);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GetItem(numbered, i);
        if (pair == NULL) return NULL;
        if (!PyTuple_Check(pair) || PyTuple_Size(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "add_columns takes (line, entry) pairs");
            return NULL;
        }
        PyObject *entry = PyTuple_GetItem(pair, 1);
        if (entry == NULL) return NULL;
        if (!PyDict_Check(entry)) {
            PyErr_SetString(PyExc_TypeError, "add_columns takes (line, entry) pairs");
            return NULL;
        }
        PyObject *instant = PyDict_GetItemWithError(entry, key_timestamp_ms);
        if (instant == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "timestamp_ms");
            return NULL;
        }
        PyObject *minute = PyNumber_FloorDivide(instant, minute_ms);
        if (minute == NULL) return NULL;
        int failed = PyList_Append(minutes, minute) < 0;
        Py_DECREF(minute);
        if (failed || append_field(apis, entry, key_api_id) < 0 ||
            append_field(endpoints, entry, key_endpoint) < 0 ||
            append_field(statuses, entry, key_http_status) < 0 ||
            append_field(elapsed, entry, key_response_time_ms) < 0 ||
            append_keyed(event_types, event_instants, entry, key_event_type, instant) < 0 ||
            append_keyed(error_codes, code_instants, entry, key_error_code, instant) < 0)
            return NULL;
        if (!anchors) {
            PyObject *version = PyDict_GetItemWithError(entry, key_version_id);
            if (version == NULL && PyErr_Occurred()) return NULL;
            anchors = version != NULL && version != Py_None;
        }
    }
    return PyBool_FromLong(anchors);
}

/* -- the module ------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"line_validator", line_validator, METH_VARARGS,
     "line_validator(loads, fallback) -> a callable validate(raw), see the module's source."},
    {"add_columns", add_columns, METH_VARARGS,
     "add_columns(numbered, apis, endpoints, statuses, minutes, elapsed, event_types, "
     "event_instants, error_codes, code_instants) -> whether an entry has a version_id."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_horizon_speedups", "The ingest core's fast path, in C.", -1, methods,
};

static PyObject *intern(const char *name) {
    return PyUnicode_InternFromString(name);
}

PyMODINIT_FUNC PyInit__horizon_speedups(void) {
    key_timestamp = intern("timestamp");
    key_timestamp_ms = intern("timestamp_ms");
    key_attributes = intern("attributes");
    key_http_status = intern("http_status");
    key_response_time_ms = intern("response_time_ms");
    key_error_code = intern("error_code");
    key_api_id = intern("api_id");
    key_endpoint = intern("endpoint");
    key_event_type = intern("event_type");
    key_version_id = intern("version_id");
    minute_ms = PyLong_FromLong(60000);
    if (!key_api_id || !key_endpoint || !key_event_type || !key_version_id || !minute_ms)
        return NULL;
    if (!key_timestamp || !key_timestamp_ms || !key_attributes || !key_http_status ||
        !key_response_time_ms || !key_error_code)
        return NULL;
    PyObject *names = PyList_New(0);
    if (names == NULL) return NULL;
    for (int i = 0; i < STRING_KEYS; i++) {
        string_keys[i] = intern(string_key_names[i]);
        if (string_keys[i] == NULL || PyList_Append(names, string_keys[i]) < 0) {
            Py_DECREF(names);
            return NULL;
        }
    }
    PyObject *others[] = {key_timestamp, key_http_status, key_response_time_ms, key_error_code};
    for (int i = 0; i < 4; i++) {
        if (PyList_Append(names, others[i]) < 0) {
            Py_DECREF(names);
            return NULL;
        }
    }
    known_keys = PyFrozenSet_New(names);
    Py_DECREF(names);
    if (known_keys == NULL) return NULL;
    validator_type = PyType_FromSpec(&validator_spec);
    if (validator_type == NULL) return NULL;
    return PyModule_Create(&module_def);
}
