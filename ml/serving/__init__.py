"""The BentoML service, its prediction-log writer, and running the bento locally (serve, demo)."""
