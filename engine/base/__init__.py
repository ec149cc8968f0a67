"""The ground floor: errors, ids, paths inside the data directory, file writes, locks,
encryption, configuration. Imports nothing of famtune above it."""
