"""The platform as code: the Pulumi program (`__main__.py`) and one module per concern."""
