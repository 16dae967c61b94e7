"""The Metadata API over the sandbox org: the SOAP endpoint and the components it deploys."""
