"""Local stand-ins for external services, for tests that run the real client libraries."""
