"""HubSpot on the official hubspot-api-client: auth, a paced HTTP path, streams, writes."""
