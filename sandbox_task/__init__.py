"""The code-execution sandbox: a fork server that runs untrusted Python, one locked-down child per run.

`contract` says what goes in and comes out; `client.Sandbox` starts and talks to the server;
`worker` takes executions from the queue (the Fargate task's entry point, and the local stack's).
"""
