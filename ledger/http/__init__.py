"""The JSON API: the app factory (app.py), its routes, middleware and error mapping."""
