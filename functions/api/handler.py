"""REST API: API Gateway proxy events → the FastAPI app, through Mangum."""

from mangum import Mangum

from horizon import metrics
from horizon.api import create_app

# What the services counted (jobs accepted, executions ended) is printed as EMF at the end of
# each invocation, before Lambda freezes the process.
handler = metrics.flushing(Mangum(create_app(), lifespan="off"))
