package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	tsync "github.com/trustsync/trustsync/sync"
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
		{"own device", []string{"--own-device"}, ExitOK, func(t *testing.T, o *PairOptions) {
			if !o.OwnDevice || o.Invite != "" {
				t.Errorf("parsed %+v", o)
			}
		}},
		{"own device when joining", []string{"tsinvite1.x", "--own-device"}, ExitUsage, nil},
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

// confirmCodes shows what a pairing is for and, on a terminal, asks whether
// the other screen shows the same code: only a yes lets the pairing go on.
func TestConfirmCodes(t *testing.T) {
	own := tsync.Confirmation{Code: "123456", Purpose: tsync.PurposeOwnDevice,
		As: trustsync.Person{ID: "m1", Name: "Alex"}, Remote: tsync.Remote{DeviceName: "alex-phone", MemberName: "Alex"}}
	partner := tsync.Confirmation{Code: "654321", Purpose: tsync.PurposePartner,
		As: trustsync.Person{ID: "m2", Name: "Sam"}, Remote: tsync.Remote{DeviceName: "sam-laptop", MemberName: "Sam"}}
	tests := []struct {
		name     string
		c        tsync.Confirmation
		inviting bool
		tty      bool
		answer   string
		wantErr  bool
		wantOut  string
		wantErrs []string
	}{
		{"own device, yes", own, true, true, "y\n", false, "code: 123456\n", []string{
			`WARNING: this adds a device that will write in YOUR name, Alex: only continue if "alex-phone" is your own device.`,
			"Does your other device's screen show code 123 456? [y/N] "}},
		{"partner, no", partner, true, true, "n\n", true, "code: 654321\n", []string{
			`Device "sam-laptop" joins as your partner, Sam.`,
			"Does your partner's screen show code 654 321? [y/N] "}},
		{"partner, just enter", partner, true, true, "\n", true, "code: 654321\n", nil},
		{"joining as the inviter's device", own, false, true, "yes\n", false, "code: 123456\n", []string{
			"This device joins as Alex's device: what it writes will be in Alex's name."}},
		{"no terminal: no question", own, true, false, "", false, "", []string{
			"WARNING: this adds a device that will write in YOUR name, Alex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, in, out, errOut := TestStreams()
			ios.StdinTTY = tt.tty
			in.WriteString(tt.answer)
			f := NewFactory(ios)
			f.Getenv = func(string) string { return t.TempDir() }
			shown := false
			err := confirmCodes(context.Background(), f, tt.inviting, &shown)(tt.c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("confirm = %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "said the codes differ") {
				t.Errorf("refusal %q does not say the codes differ", err)
			}
			if out.String() != tt.wantOut || shown != (tt.wantOut != "") {
				t.Errorf("stdout %q (shown %v), want %q", out.String(), shown, tt.wantOut)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(errOut.String(), want) {
					t.Errorf("stderr %q lacks %q", errOut.String(), want)
				}
			}
			if !tt.tty && strings.Contains(errOut.String(), "[y/N]") {
				t.Errorf("asked without a terminal: %q", errOut.String())
			}
		})
	}
}
