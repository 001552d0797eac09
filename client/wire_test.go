package client_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/letterbox-mail/letterbox/client"
	"github.com/letterbox-mail/letterbox/deliverability"
	"github.com/letterbox-mail/letterbox/webui"
)

// The client declares its own copies of the API's types instead of importing webui's: users'
// tests import the client, and webui's types would bring the store (SQLite), the MIME parser and
// the websocket server with them. These tests keep the copies true to the server's JSON.

// TestTypesMirrorTheServer: every field the server writes is read by the client, under the same
// JSON name and with a matching type, and the client has no field the server never writes.
func TestTypesMirrorTheServer(t *testing.T) {
	for _, p := range []struct {
		server, client any
	}{
		{webui.List{}, client.List{}},
		{webui.Summary{}, client.Summary{}},
		{webui.Message{}, client.Message{}},
		{webui.Info{}, client.Info{}},
	} {
		sameShape(t, reflect.TypeOf(p.server).Name(), reflect.TypeOf(p.server), reflect.TypeOf(p.client), shape{})
	}
}

// TestDeliverabilityIsPartOfTheReport: the client reads the main part of the deliverability
// report, so each of its fields must be one the server writes, with a matching type.
func TestDeliverabilityIsPartOfTheReport(t *testing.T) {
	sameShape(t, "Deliverability", reflect.TypeOf(deliverability.Report{}), reflect.TypeOf(client.Deliverability{}), shape{subset: true})
}

// shape is how sameShape compares: subset lets the client leave server fields out; seen holds
// the pairs of struct types compared already (a MIME Node holds Nodes).
type shape struct {
	subset bool
	seen   map[[2]reflect.Type]bool
}

// sameShape compares the JSON a server type writes with what a client type reads.
func sameShape(t *testing.T, path string, server, client reflect.Type, how shape) {
	t.Helper()
	for server.Kind() == reflect.Pointer {
		server = server.Elem()
	}
	for client.Kind() == reflect.Pointer {
		client = client.Elem()
	}
	if how.seen == nil {
		how.seen = map[[2]reflect.Type]bool{}
	}
	if how.seen[[2]reflect.Type{server, client}] {
		return
	}
	how.seen[[2]reflect.Type{server, client}] = true
	timeType := reflect.TypeOf(time.Time{})
	switch {
	case server == timeType || client == timeType:
		if server != client {
			t.Errorf("%s: server %s, client %s", path, server, client)
		}
	case server.Kind() == reflect.Struct && client.Kind() == reflect.Struct:
		sf, cf := jsonFields(server), jsonFields(client)
		for name, s := range sf {
			c, ok := cf[name]
			if !ok {
				if !how.subset {
					t.Errorf("%s.%s: the server writes it, the client has no field for it", path, name)
				}
				continue
			}
			sameShape(t, path+"."+name, s, c, how)
		}
		for name := range cf {
			if _, ok := sf[name]; !ok {
				t.Errorf("%s.%s: the client reads it, the server never writes it", path, name)
			}
		}
	case server.Kind() == reflect.Slice && client.Kind() == reflect.Slice:
		sameShape(t, path+"[]", server.Elem(), client.Elem(), how)
	case server.Kind() == reflect.Map && client.Kind() == reflect.Map:
		sameShape(t, path+"[key]", server.Key(), client.Key(), how)
		sameShape(t, path+"[value]", server.Elem(), client.Elem(), how)
	case jsonKind(server) != jsonKind(client):
		t.Errorf("%s: server %s, client %s", path, server, client)
	}
}

// jsonKind is what a scalar looks like in JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}

// jsonFields maps the JSON names of a struct's fields to their types, as encoding/json names them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
