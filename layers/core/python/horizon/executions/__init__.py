"""Code execution: `/execute`, code sessions, and the records the sandbox workers update.

Kept free of imports here: `horizon.executions.limits` is read by the sandbox's fork server,
which must not pull boto3 or the API in.
"""
