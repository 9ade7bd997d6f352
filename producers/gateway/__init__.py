"""HTTP ingest gateway: agencies' own systems (.NET, Java, PHP) publish over HTTP with an API key."""
