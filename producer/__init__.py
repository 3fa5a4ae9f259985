"""The producer: splits the dataset into chunks and publishes one task per chunk."""
