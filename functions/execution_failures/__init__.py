"""Execute-DLQ consumer: ends FAILED the executions no sandbox worker will come back for."""
