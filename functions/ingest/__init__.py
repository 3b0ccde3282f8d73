"""The ingest function: ingest-queue messages (S3 notifications, continuations) → IngestService."""
