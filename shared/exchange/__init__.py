"""The inter-district exchange's shared parts: who the partners are, read from one file by routing and notification."""
