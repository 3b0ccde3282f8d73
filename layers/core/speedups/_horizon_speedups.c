/* The ingest core's per-line fast path, in C: `horizon.ingest.validator` and
 * `horizon.analytics.aggregator` use it when built (see DESIGN.md, "The ingest core in C").
 *
 *   line_validator(loads, validate_data, validate_line) -> validate(raw)
 *
 * `validate(raw)` parses with `loads` (orjson.loads) and returns `(entry, None)` itself for an
 * ordinary line: known fields of the right types, a timestamp `YYYY-MM-DD(T| )hh:mm:ss`
 * with an optional fraction of 1 to 6 digits and an optional zone `Z`, `±hh:mm` or `±hhmm`,
 * and attributes that are strings, integers, booleans, nulls, storable floats, or objects of
 * those. It hands every other line on unchanged: a parsed one to `validate_data(data)`, one
 * `loads` refused to `validate_line(raw)` -- the Python validator, which stays the reference for
 * the rules and names the reason. So this file adds speed, never a rule; for the lines it
 * decides, its result equals the Python one, key order included
 * (`tests/unit/ingest/test_speedups.py`). `loads` must return JSON data (string keys).
 *
 *   add_columns(numbered, <9 column lists>) -> whether an entry has a version_id
 *
 * What the aggregator's Python passes append for a batch of (line, entry) pairs, in one pass.
 *
 * Built against the stable ABI (Python 3.11 and newer: one build serves the local Python and
 * Lambda's 3.14), see `layers/core/speedups/build.py`.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* The source's fingerprint, set by build.py: `horizon.speedups` refuses a stale build. */
#ifndef HORIZON_SPEEDUPS_SOURCE
#define HORIZON_SPEEDUPS_SOURCE "unknown"
#endif

#define COUNT(array) ((int)(sizeof(array) / sizeof((array)[0])))

/* DynamoDB numbers: magnitude in [1e-130, 9.99..e125], or zero. Exported, and compared with
 * the Python validator's by a test, so that the two cannot drift apart. */
#define DYNAMO_MIN 1e-130
#define DYNAMO_MAX 9.9999999999999e125

static PyObject *key_timestamp, *key_timestamp_ms, *key_attributes, *key_http_status,
    *key_response_time_ms, *key_error_code, *key_level, *key_message, *key_service, *key_api_id,
    *key_endpoint, *key_event_type, *key_version_id;

static const struct {
    PyObject **key;
    const char *name;
    int known; /* a field of the LogEntry contract (the others are added by the validator) */
} key_names[] = {
    {&key_timestamp, "timestamp", 1},
    {&key_level, "level", 1},
    {&key_message, "message", 1},
    {&key_service, "service", 1},
    {&key_api_id, "api_id", 1},
    {&key_endpoint, "endpoint", 1},
    {&key_event_type, "event_type", 1},
    {&key_version_id, "version_id", 1},
    {&key_http_status, "http_status", 1},
    {&key_response_time_ms, "response_time_ms", 1},
    {&key_error_code, "error_code", 1},
    {&key_timestamp_ms, "timestamp_ms", 0},
    {&key_attributes, "attributes", 0},
};
static PyObject **const string_keys[] = {
    &key_level, &key_message, &key_service, &key_api_id, &key_endpoint, &key_event_type,
    &key_version_id,
};
static PyObject *known_keys; /* frozenset of the contract's fields; exported as KNOWN_KEYS */
static PyObject *minute_ms;  /* 60_000 */

/* 1: `key` is in `dict` (*value borrowed), 0: it is not, -1: error set. */
static int lookup(PyObject *dict, PyObject *key, PyObject **value) {
    *value = PyDict_GetItemWithError(dict, key);
    if (*value != NULL) return 1;
    return PyErr_Occurred() ? -1 : 0;
}

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

/* Inverse of days_from_civil. */
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

/* Read a zone (`Z`, `±hh:mm`, `±hhmm` or nothing: UTC) into minutes east of UTC; 0 if not. */
static int read_zone(const char *zone, Py_ssize_t size, int *minutes_east) {
    int hours, minutes;
    *minutes_east = 0;
    if (size == 0) return 1;
    if (size == 1) return zone[0] == 'Z';
    if ((zone[0] != '+' && zone[0] != '-') || !digits(zone + 1, 2, &hours)) return 0;
    if (size == 6) {
        if (zone[3] != ':' || !digits(zone + 4, 2, &minutes)) return 0;
    } else if (size != 5 || !digits(zone + 3, 2, &minutes)) {
        return 0;
    }
    /* Python 3.11-3.13 take "+00:99" as +01:39; the Python validator refuses it, as this. */
    if (hours > 23 || minutes > 59) return 0;
    *minutes_east = (hours * 60 + minutes) * (zone[0] == '-' ? -1 : 1);
    return 1;
}

/* Read `text` as a timestamp of the shapes in the header; on success write its epoch
 * milliseconds and its normalized text (`YYYY-MM-DDThh:mm:ss.mmmZ`, UTC, 24 bytes) and return 1.
 * Return 0 for any other shape or an impossible date or time: the Python validator then
 * decides (it accepts more shapes, and names the reason for a bad one). */
static int read_timestamp(const char *text, Py_ssize_t size, int64_t *epoch_ms, char *normalized) {
    int year, month, day, hour, minute, second, micros = 0;
    if (size < 19 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') ||
        text[13] != ':' || text[16] != ':')
        return 0;
    if (!digits(text, 4, &year) || !digits(text + 5, 2, &month) || !digits(text + 8, 2, &day) ||
        !digits(text + 11, 2, &hour) || !digits(text + 14, 2, &minute) ||
        !digits(text + 17, 2, &second))
        return 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > 59)
        return 0;
    Py_ssize_t position = 19;
    if (position < size && text[position] == '.') {
        int places = 0;
        while (position + 1 + places < size && places <= 6 && text[position + 1 + places] >= '0' &&
               text[position + 1 + places] <= '9')
            places++;
        if (places < 1 || places > 6) return 0; /* Pythons differ beyond microseconds */
        digits(text + position + 1, places, &micros);
        for (int i = places; i < 6; i++) micros *= 10;
        position += 1 + places;
    }
    int minutes_east;
    if (!read_zone(text + position, size - position, &minutes_east)) return 0;
    int64_t local_ms = ((days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60000 +
                       second * 1000 + micros / 1000;
    int64_t utc_ms = local_ms - (int64_t)minutes_east * 60000;
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

static int ordinary_status(PyObject *value) {
    int overflow;
    if (!PyLong_CheckExact(value)) return 0;
    long long status = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && status >= 100 && status <= 599;
}

static int ordinary_elapsed(PyObject *value) {
    int overflow;
    if (PyFloat_CheckExact(value)) {
        double elapsed = PyFloat_AsDouble(value);
        return elapsed >= 0 && storable_float(elapsed);
    }
    if (!PyLong_CheckExact(value)) return 0;
    long long elapsed = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && elapsed >= 0;
}

/* 1: every known field but the timestamp is absent or ordinary (those present are counted in
 * *present); 0: one is not; -1: error set. */
static int check_known(PyObject *data, Py_ssize_t *present) {
    static const struct {
        PyObject **key;
        int (*ordinary)(PyObject *);
    } checks[] = {
        {&key_http_status, ordinary_status},
        {&key_response_time_ms, ordinary_elapsed},
        {&key_error_code, NULL}, /* any exact int */
    };
    PyObject *value;
    int found;
    for (int i = 0; i < COUNT(string_keys); i++) {
        if ((found = lookup(data, *string_keys[i], &value)) < 0) return -1;
        if (!found) continue;
        if (!PyUnicode_CheckExact(value)) return 0;
        ++*present;
    }
    for (int i = 0; i < COUNT(checks); i++) {
        if ((found = lookup(data, *checks[i].key, &value)) < 0) return -1;
        if (!found) continue;
        if (checks[i].ordinary ? !checks[i].ordinary(value) : !PyLong_CheckExact(value)) return 0;
        ++*present;
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

/* Move the keys that are not known fields, in input order, into a new dict. NULL when one is
 * not ordinary (no error set: the caller hands the line on) or on an error (set). */
static PyObject *take_attributes(PyObject *data) {
    PyObject *attributes = PyDict_New();
    if (attributes == NULL) return NULL;
    PyObject *key, *value;
    Py_ssize_t position = 0;
    while (PyDict_Next(data, &position, &key, &value)) {
        /* The key's type first: only an exact str compares without running Python code, which
         * could change `data` while PyDict_Next walks it. (A known key is never empty.) */
        if (!storable_key(key)) goto fail;
        int known = PySet_Contains(known_keys, key);
        if (known < 0) goto fail;
        if (known) continue;
        if (!ordinary_attribute(value) || PyDict_SetItem(attributes, key, value) < 0) goto fail;
    }
    position = 0;
    while (PyDict_Next(attributes, &position, &key, &value)) {
        if (PyDict_DelItem(data, key) < 0) goto fail;
    }
    return attributes;
fail: /* not ordinary, or an error (then set) */
    Py_DECREF(attributes);
    return NULL;
}

/* Set `data[key] = value` and drop the reference to `value` (NULL: an error already set). */
static int set_new(PyObject *data, PyObject *key, PyObject *value) {
    if (value == NULL) return -1;
    int failed = PyDict_SetItem(data, key, value) < 0;
    Py_DECREF(value);
    return failed ? -1 : 0;
}

/* -- the validator --------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *loads;
    PyObject *validate_data; /* the Python rules on a parsed line */
    PyObject *validate_line; /* the Python rules on a raw line (for lines `loads` refused) */
} Validator;

/* The entry of an ordinary line, made of `data` in place (owned: returned or released).
 * NULL with no error set: not ordinary, and `data` is unchanged. */
static PyObject *ordinary_entry(PyObject *data) {
    PyObject *timestamp;
    int found = PyDict_CheckExact(data) ? lookup(data, key_timestamp, &timestamp) : 0;
    if (found <= 0 || !PyUnicode_CheckExact(timestamp)) return NULL;
    /* Read before the other lookups: `timestamp` is borrowed, and nothing else is kept. */
    Py_ssize_t text_size;
    const char *text = PyUnicode_AsUTF8AndSize(timestamp, &text_size);
    if (text == NULL) {
        /* A lone surrogate (from a `loads` other than orjson's): not a timestamp read here. */
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) PyErr_Clear();
        return NULL;
    }
    int64_t epoch_ms;
    char normalized[24];
    if (!read_timestamp(text, text_size, &epoch_ms, normalized)) return NULL;
    int already_normalized = text_size == 24 && memcmp(text, normalized, 24) == 0;

    Py_ssize_t present = 1;
    if (check_known(data, &present) <= 0) return NULL;
    PyObject *attributes = NULL;
    if (present < PyDict_Size(data) && (attributes = take_attributes(data)) == NULL) return NULL;
    /* No more reasons to hand the line on: change `data` into the entry, in the order the
     * Python validator writes its keys. */
    if ((!already_normalized &&
         set_new(data, key_timestamp, PyUnicode_FromStringAndSize(normalized, 24)) < 0) ||
        set_new(data, key_timestamp_ms, PyLong_FromLongLong(epoch_ms)) < 0) {
        Py_XDECREF(attributes);
        return NULL;
    }
    if (attributes != NULL && set_new(data, key_attributes, attributes) < 0) return NULL;
    return PyTuple_Pack(2, data, Py_None);
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
        return PyObject_CallFunctionObjArgs(self->validate_line, raw, NULL); /* names why */
    }
    PyObject *result = ordinary_entry(data);
    if (result == NULL && !PyErr_Occurred())
        result = PyObject_CallFunctionObjArgs(self->validate_data, data, NULL);
    Py_DECREF(data);
    return result;
}

static int Validator_traverse(PyObject *callable, visitproc visit, void *arg) {
    Validator *self = (Validator *)callable;
    Py_VISIT(self->loads);
    Py_VISIT(self->validate_data);
    Py_VISIT(self->validate_line);
    Py_VISIT(Py_TYPE(callable)); /* a heap type's instances own a reference to it */
    return 0;
}

static int Validator_clear(PyObject *callable) {
    Validator *self = (Validator *)callable;
    Py_CLEAR(self->loads);
    Py_CLEAR(self->validate_data);
    Py_CLEAR(self->validate_line);
    return 0;
}

static void Validator_dealloc(PyObject *callable) {
    PyTypeObject *type = Py_TYPE(callable);
    PyObject_GC_UnTrack(callable);
    Validator_clear(callable);
    freefunc free_slot = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_slot(callable);
    Py_DECREF(type);
}

static PyType_Slot validator_slots[] = {
    {Py_tp_call, Validator_call},
    {Py_tp_dealloc, Validator_dealloc},
    {Py_tp_traverse, Validator_traverse},
    {Py_tp_clear, Validator_clear},
    {Py_tp_doc, "validate(raw) -> (entry, None) | (None, reason), see the module's source."},
    {0, NULL},
};

static PyType_Spec validator_spec = {
    .name = "_horizon_speedups.Validator",
    .basicsize = sizeof(Validator),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = validator_slots,
};

static PyObject *validator_type;

static PyObject *line_validator(PyObject *module, PyObject *args) {
    PyObject *loads, *validate_data, *validate_line;
    (void)module;
    if (!PyArg_UnpackTuple(args, "line_validator", 3, 3, &loads, &validate_data, &validate_line))
        return NULL;
    if (!PyCallable_Check(loads) || !PyCallable_Check(validate_data) ||
        !PyCallable_Check(validate_line)) {
        PyErr_SetString(PyExc_TypeError,
                        "line_validator(loads, validate_data, validate_line) takes callables");
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot((PyTypeObject *)validator_type, Py_tp_alloc);
    Validator *self = (Validator *)alloc((PyTypeObject *)validator_type, 0);
    if (self == NULL) return NULL;
    Py_INCREF(loads);
    Py_INCREF(validate_data);
    Py_INCREF(validate_line);
    self->loads = loads;
    self->validate_data = validate_data;
    self->validate_line = validate_line;
    return (PyObject *)self;
}

/* -- the segment aggregator's columns -------------------------------------------------------- */

typedef struct {
    PyObject *apis, *endpoints, *statuses, *minutes, *elapsed;
    PyObject *event_types, *event_instants, *error_codes, *code_instants;
} Columns;

/* Append `value` (or None when absent) to `column`; -1 on error. */
static int append_field(PyObject *column, PyObject *entry, PyObject *key) {
    PyObject *value;
    int found = lookup(entry, key, &value);
    if (found < 0) return -1;
    return PyList_Append(column, found ? value : Py_None);
}

/* Append the entry's value of `key` and its instant to a keyed part, when it has one. */
static int append_keyed(PyObject *values, PyObject *instants, PyObject *entry, PyObject *key,
                        PyObject *instant) {
    PyObject *value;
    int found = lookup(entry, key, &value);
    if (found <= 0 || value == Py_None) return found;
    if (PyList_Append(values, value) < 0) return -1;
    return PyList_Append(instants, instant);
}

/* One entry's share of `add_columns`; -1 on error. Whether it is an anchor goes to *anchor. */
static int add_entry(PyObject *entry, Columns *columns, int *anchor) {
    PyObject *instant, *version;
    int found = lookup(entry, key_timestamp_ms, &instant);
    if (found <= 0) {
        if (found == 0) PyErr_SetString(PyExc_KeyError, "timestamp_ms");
        return -1;
    }
    /* Owned while in use: the floor division may run Python code that drops it. */
    Py_INCREF(instant);
    PyObject *minute = PyNumber_FloorDivide(instant, minute_ms);
    int failed = minute == NULL || PyList_Append(columns->minutes, minute) < 0 ||
                 append_field(columns->apis, entry, key_api_id) < 0 ||
                 append_field(columns->endpoints, entry, key_endpoint) < 0 ||
                 append_field(columns->statuses, entry, key_http_status) < 0 ||
                 append_field(columns->elapsed, entry, key_response_time_ms) < 0 ||
                 append_keyed(columns->event_types, columns->event_instants, entry,
                              key_event_type, instant) < 0 ||
                 append_keyed(columns->error_codes, columns->code_instants, entry,
                              key_error_code, instant) < 0 ||
                 (found = lookup(entry, key_version_id, &version)) < 0;
    Py_XDECREF(minute);
    Py_DECREF(instant);
    if (failed) return -1;
    *anchor = found && version != Py_None;
    return 0;
}

static PyObject *add_columns(PyObject *module, PyObject *args) {
    PyObject *numbered;
    Columns c;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!O!O!O!O!:add_columns", &PyList_Type, &numbered,
                          &PyList_Type, &c.apis, &PyList_Type, &c.endpoints, &PyList_Type,
                          &c.statuses, &PyList_Type, &c.minutes, &PyList_Type, &c.elapsed,
                          &PyList_Type, &c.event_types, &PyList_Type, &c.event_instants,
                          &PyList_Type, &c.error_codes, &PyList_Type, &c.code_instants))
        return NULL;
    int anchors = 0;
    for (Py_ssize_t i = 0; i < PyList_Size(numbered); i++) {
        PyObject *pair = PyList_GetItem(numbered, i);
        if (pair == NULL) return NULL;
        if (!PyTuple_Check(pair) || PyTuple_Size(pair) != 2 ||
            !PyDict_Check(PyTuple_GetItem(pair, 1))) {
            PyErr_SetString(PyExc_TypeError, "add_columns takes (line, entry) pairs");
            return NULL;
        }
        /* Owned while in use: Python code run by a comparison could empty `numbered`. */
        Py_INCREF(pair);
        int anchor;
        int failed = add_entry(PyTuple_GetItem(pair, 1), &c, &anchor) < 0;
        Py_DECREF(pair);
        if (failed) return NULL;
        anchors |= anchor;
    }
    return PyBool_FromLong(anchors);
}

/* -- the module ------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"line_validator", line_validator, METH_VARARGS,
     "line_validator(loads, validate_data, validate_line) -> validate(raw), see the source."},
    {"add_columns", add_columns, METH_VARARGS,
     "add_columns(numbered, apis, endpoints, statuses, minutes, elapsed, event_types, "
     "event_instants, error_codes, code_instants) -> whether an entry has a version_id."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_horizon_speedups",
    .m_doc = "The ingest core's fast path, in C.",
    .m_size = -1,
    .m_methods = methods,
};

static int add_float(PyObject *module, const char *name, double value) {
    PyObject *number = PyFloat_FromDouble(value);
    int failed = number == NULL || PyModule_AddObjectRef(module, name, number) < 0;
    Py_XDECREF(number);
    return failed ? -1 : 0;
}

PyMODINIT_FUNC PyInit__horizon_speedups(void) {
    PyObject *known = PyList_New(0);
    if (known == NULL) return NULL;
    for (int i = 0; i < COUNT(key_names); i++) {
        *key_names[i].key = PyUnicode_InternFromString(key_names[i].name);
        if (*key_names[i].key == NULL ||
            (key_names[i].known && PyList_Append(known, *key_names[i].key) < 0)) {
            Py_DECREF(known);
            return NULL;
        }
    }
    known_keys = PyFrozenSet_New(known);
    Py_DECREF(known);
    minute_ms = PyLong_FromLong(60000);
    validator_type = PyType_FromSpec(&validator_spec);
    if (known_keys == NULL || minute_ms == NULL || validator_type == NULL) return NULL;
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "KNOWN_KEYS", known_keys) < 0 ||
        PyModule_AddStringConstant(module, "SOURCE_HASH", HORIZON_SPEEDUPS_SOURCE) < 0 ||
        add_float(module, "DYNAMO_MIN", DYNAMO_MIN) < 0 ||
        add_float(module, "DYNAMO_MAX", DYNAMO_MAX) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
