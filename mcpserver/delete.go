package mcpserver

import (
	"context"
	"errors"
	"strings"
)

// DeleteInput is delete_messages' input: exactly one of its fields.
type DeleteInput struct {
	IDs   []string `json:"ids,omitempty" jsonschema:"the IDs of the messages to delete"`
	Query string   `json:"query,omitempty" jsonschema:"delete every message matching this search instead"`
	All   bool     `json:"all,omitempty" jsonschema:"delete every message instead"`
}

// DeleteOutput is delete_messages' output.
type DeleteOutput struct {
	Deleted int `json:"deleted" jsonschema:"how many messages were deleted"`
}

func (s *Server) addDeleteTool() {
	addTool(s, "delete_messages", "Delete messages",
		"Delete captured messages: those with the given ids, or every message matching query, or all of them with all true "+
			"(give exactly one). Useful to start a test from an empty inbox. This cannot be undone.",
		deletes, s.delete)
}

func (s *Server) delete(ctx context.Context, in DeleteInput) (DeleteOutput, error) {
	query := strings.TrimSpace(in.Query)
	given := 0
	for _, b := range []bool{len(in.IDs) > 0, query != "", in.All} {
		if b {
			given++
		}
	}
	if given != 1 {
		return DeleteOutput{}, errors.New("give exactly one of ids, query or all")
	}
	switch {
	case len(in.IDs) > 0:
		return s.deleteIDs(ctx, in.IDs)
	case in.All:
		l, err := s.mb.Search(ctx, "", 0, 1)
		if err != nil {
			return DeleteOutput{}, toolError(err)
		}
		return DeleteOutput{Deleted: l.Total}, toolError(s.mb.DeleteAll(ctx))
	}
	l, err := s.mb.Search(ctx, query, 0, 1)
	if err != nil {
		return DeleteOutput{}, toolError(err)
	}
	return DeleteOutput{Deleted: l.MessagesCount}, toolError(s.mb.DeleteSearch(ctx, query))
}

// deleteIDs deletes messages by ID. The API answers ok for IDs it does not have, so the messages
// stored before and after tell how many went (mail arriving meanwhile can only make it fewer).
func (s *Server) deleteIDs(ctx context.Context, ids []string) (DeleteOutput, error) {
	before, err := s.mb.Search(ctx, "", 0, 1)
	if err != nil {
		return DeleteOutput{}, toolError(err)
	}
	if err := s.mb.Delete(ctx, ids...); err != nil {
		return DeleteOutput{}, toolError(err)
	}
	after, err := s.mb.Search(ctx, "", 0, 1)
	if err != nil {
		return DeleteOutput{}, toolError(err)
	}
	return DeleteOutput{Deleted: min(max(before.Total-after.Total, 0), len(ids))}, nil
}
