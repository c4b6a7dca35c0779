package cli

import (
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
)

func TestNewCmdPair_Flags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, o *PairOptions)
	}{
		{"invite", nil, ExitOK, func(t *testing.T, o *PairOptions) {
			if o.Invite != "" || o.Timeout != DefaultPairTimeout || o.As != "" {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"join as", []string{"tsinvite1.x", "--as", "Sam", "--timeout", "30s"}, ExitOK, func(t *testing.T, o *PairOptions) {
			if o.Invite != "tsinvite1.x" || o.As != "Sam" || o.Timeout.String() != "30s" {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"announce and listen", []string{"--announce", "/ip4/203.0.113.7/tcp/4001", "--listen", "/ip4/127.0.0.1/tcp/0"}, ExitOK, func(t *testing.T, o *PairOptions) {
			if len(o.Announce) != 1 || len(o.Listen) != 1 {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"two invites", []string{"a", "b"}, ExitUsage, nil},
		{"empty invite", []string{""}, ExitUsage, nil},
		{"blank invite", []string{"  "}, ExitUsage, nil},
		{"as without an invite", []string{"--as", "Sam"}, ExitUsage, nil},
		{"zero timeout", []string{"--timeout", "0s"}, ExitUsage, nil},
		{"bad announce", []string{"--announce", "not-an-address"}, ExitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *PairOptions
			cmd := NewCmdPair(&Factory{}, func(o *PairOptions) error { got = o; return nil })
			code, stderr := runParsed(t, cmd, append([]string{"pair"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if tt.wantCode == ExitUsage {
				if got != nil {
					t.Error("the command ran despite wrong usage")
				}
				if !strings.Contains(stderr, "see 'trustsync pair --help'") {
					t.Errorf("stderr %q does not point to the help", stderr)
				}
				return
			}
			tt.check(t, got)
		})
	}
}

func TestReadInvite(t *testing.T) {
	tests := []struct{ in, want string }{
		{"invite: tsinvite1.abc\ncode: 123\n", "tsinvite1.abc"},
		{"  tsinvite1.xyz  ", "tsinvite1.xyz"},
		{"nothing here\n", ""},
	}
	for _, tt := range tests {
		got, err := readInvite(strings.NewReader(tt.in))
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("readInvite(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFindDeviceArg(t *testing.T) {
	members := []trustsync.Member{
		{Person: trustsync.Person{ID: "m1", Name: "Alex"}, Devices: []trustsync.Device{
			{ID: "aaaaaaaa11111111aaaaaaaa11111111", Name: "alex-laptop"},
			{ID: "aaaaaaaa22222222aaaaaaaa22222222", Name: "phone"},
		}},
		{Person: trustsync.Person{ID: "m2", Name: "Sam"}, Devices: []trustsync.Device{
			{ID: "bbbbbbbb11111111bbbbbbbb11111111", Name: "phone"},
			{ID: "cccccccc11111111cccccccc11111111", Name: "old-tablet", Removed: true},
		}},
	}
	tests := []struct{ arg, want, wantErr string }{
		{"ALEX-laptop", "aaaaaaaa11111111aaaaaaaa11111111", ""},
		{"bbbbbbbb", "bbbbbbbb11111111bbbbbbbb11111111", ""},
		{"phone", "", "could mean 2 devices"},
		{"aaaaaaaa", "", "could mean 2 devices"},
		{"old-tablet", "", "already unpaired"},
		{"toaster", "", "no device \"toaster\""},
		{"bbbb", "", "no device"}, // too short for an ID prefix
	}
	for _, tt := range tests {
		got, err := findDeviceArg(members, tt.arg)
		if got != tt.want || (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("findDeviceArg(%q) = %q, %v; want %q, error containing %q", tt.arg, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDevicesAndUnpair_Offline(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	checkFailure(t, sam.run("unpair"), ExitFailure, []string{"unpair"})
	pair(t, sam, alex)

	out := sam.ok("devices")
	contains(t, "devices", out, "sam-laptop", "this device", "alex-phone", "Alex", "paired", "never")
	checkFailure(t, sam.run("unpair", "sam-laptop"), ExitFailure, []string{"unpair", "sam-laptop"})

	// Alex's phone is not online: the unpairing happens at once all the
	// same, and says that it could not tell it.
	r := sam.run("unpair", "--timeout", "1s")
	if r.code != ExitOK {
		t.Fatalf("unpair: exit %d, stderr %q", r.code, r.errOut)
	}
	contains(t, "unpair stdout", r.out, "unpaired alex-phone (Alex)")
	contains(t, "unpair stderr", r.errOut, `Could not reach "alex-phone"`, "cannot be wiped")
	contains(t, "devices after", sam.ok("devices", "--json"), `"removed": true`)
	contains(t, "history", sam.ok("history"), `unpaired "alex-phone" of Alex`)
	checkFailure(t, sam.run("unpair"), ExitFailure, []string{"unpair"})
}
