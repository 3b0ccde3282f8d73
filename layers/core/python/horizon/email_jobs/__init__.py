"""Email jobs: registered nonprofits, and templated emails sent in the background via SES.

A package of its own name (`email_jobs`): never `email`, which would shadow the standard library.
"""
