"""The CAST AI client (`client`) and the shared, keyed access to it (`access`)."""
