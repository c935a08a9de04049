-- The staff console's fleet list (GET /internal/v1/boxes with filters and paging, docs/console.md):
-- the location filter walks its boxes in id order (0008's boxes_location_idx holds active boxes
-- only), and the fault filter finds the boxes with an open fault of one kind without reading
-- every fault ever recorded.
CREATE INDEX boxes_location_id_idx ON boxes (location_id, id);
CREATE INDEX box_faults_open_kind_idx ON box_faults (kind, box_id) WHERE cleared_at IS NULL;
