-- The vocabulary's trigram index goes: the store keeps the words of terms in memory and finds the
-- words a fragment occurs in there (see vocab.go), which costs ingest far less than maintaining
-- the index did. The words stay in terms.
DROP TABLE terms_tri;
