"""Web service, command line and storage around the `partition` library."""
