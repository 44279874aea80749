"""What both live runtimes share: the live watermark, HTTP ingest, metrics and the sender."""
