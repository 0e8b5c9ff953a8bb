"""Server-rendered pages (Jinja2): search, certificate, batch, rack view, login."""
