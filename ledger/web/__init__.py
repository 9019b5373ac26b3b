"""The web client: server-rendered pages over the same routes, rules and service as the
JSON API (pages ask the API's own queries, forms post to the API's own routes), enhanced by
a little script for live updates, the clarity check while typing and the audience preview.
"""
