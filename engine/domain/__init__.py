"""The family's data and rules over the database: the opened home, families, the PIN, audit,
catalog, interactions, model versions, data rights and backups."""
