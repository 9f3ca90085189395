"""jiyue (集约): infrastructure as code for consolidating a city government's IT."""

__version__ = "0.1.0"
