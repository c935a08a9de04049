-- Public drop-off point listing (GET /v1/locations): opening notes customers read, and what the
-- listing's point-and-radius search needs. Coordinates exist since 0003 (lat/lon, nullable,
-- range-checked); a location without them is listed only when no point is given.

ALTER TABLE locations
  ADD COLUMN opening_notes text NOT NULL DEFAULT '' CHECK (length(opening_notes) <= 1000),
  ADD COLUMN updated_at    timestamptz;

-- A point is both coordinates or neither. NOT VALID: rows written before this migration (the
-- create route took lat and lon separately) are not checked, every new or changed row is.
ALTER TABLE locations
  ADD CONSTRAINT locations_lat_lon_together CHECK ((lat IS NULL) = (lon IS NULL)) NOT VALID;

-- The search's bounding-box prefilter (lat BETWEEN .. AND lon BETWEEN ..) reads this index.
CREATE INDEX locations_lat_lon_idx ON locations (lat, lon) WHERE lat IS NOT NULL;

-- The listing's per-location join to its boxes.
CREATE INDEX boxes_location_idx ON boxes (location_id) WHERE status = 'active';
