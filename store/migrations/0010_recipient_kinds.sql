-- Which of a message's address lists each of its recipients is in: 1 To, 2 Cc, 4 Bcc (which
-- holds the envelope recipients that are in neither), as the bits of kinds. A bit is set only
-- for an address written in ASCII, whose lower case is the one SQLite's LIKE folds to. It lets
-- a search such as to:someone@example.com count its matches in this index instead of reading
-- every match's row to check its To list (see addrsearch.go); a row whose bits are clear is
-- checked the long way, so the bits may only ever understate.
ALTER TABLE recipients ADD COLUMN kinds INTEGER NOT NULL DEFAULT 0;
UPDATE recipients SET kinds =
	EXISTS (SELECT 1 FROM messages m, json_each(m.to_json) j WHERE m.uid = recipients.uid
		AND j.value->>'Address' NOT GLOB '*[^ -~]*' AND lower(j.value->>'Address') = recipients.addr)
	+ 2 * EXISTS (SELECT 1 FROM messages m, json_each(m.cc_json) j WHERE m.uid = recipients.uid
		AND j.value->>'Address' NOT GLOB '*[^ -~]*' AND lower(j.value->>'Address') = recipients.addr)
	+ 4 * EXISTS (SELECT 1 FROM messages m, json_each(m.bcc_json) j WHERE m.uid = recipients.uid
		AND j.value->>'Address' NOT GLOB '*[^ -~]*' AND lower(j.value->>'Address') = recipients.addr);
