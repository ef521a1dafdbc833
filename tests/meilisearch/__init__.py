"""A local stand-in for Meilisearch v1.14 (``fake_server.FakeMeilisearch``) and the tests that hold it to the docs."""
