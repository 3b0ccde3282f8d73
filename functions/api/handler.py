"""REST API: API Gateway proxy events → the FastAPI app, through Mangum."""

from mangum import Mangum

from horizon.api import create_app

handler = Mangum(create_app(), lifespan="off")
