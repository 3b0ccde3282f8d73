"""The local stack: the platform's handlers on one machine, no Docker, no AWS account."""
