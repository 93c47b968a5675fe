"""What the gateway does beyond HTTP: saving catalog documents with their checks, webhooks and
events, deleting them with what hangs on them, starting runs. Falcon resources
(services/api/resources) parse a request, call one function here and render its answer."""
