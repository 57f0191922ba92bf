"""HTTP edges shared by the services: problem documents, health and readiness."""
