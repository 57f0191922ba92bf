-- docker-compose: one database per service (and one for the shared key store).
CREATE DATABASE popflow_intake;
CREATE DATABASE popflow_routing;
CREATE DATABASE popflow_notification;
CREATE DATABASE popflow_reporting;
CREATE DATABASE popflow_keys;
