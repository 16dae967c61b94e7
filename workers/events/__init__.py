"""Change events after the receiver: the inbox's leases and the rounds that process them."""
