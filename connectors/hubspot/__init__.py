"""HubSpot through the official hubspot-api-client: auth, one paced HTTP path, streams, writes, schema."""
