-- Schema version 3: the fingerprint manifest of a step (a JSON object with one
-- digest per component, daemon/fingerprint.h), stored with its success so
-- `dagd plan` can say why a step runs again ("input X changed").

ALTER TABLE steps ADD COLUMN manifest TEXT;
