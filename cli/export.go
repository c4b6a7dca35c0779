package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

// ExportOptions are the inputs of 'trustsync export'.
type ExportOptions struct {
	Factory *Factory
	Format  string
	Out     string
}

// NewCmdExport returns 'trustsync export'.
func NewCmdExport(f *Factory, runF func(*ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "export [--format json|markdown|automerge] [--out FILE|DIR]",
		Short: "Copy everything you share, for a backup, a therapist or another app",
		Long: heredoc(`
			Write out everything the two of you share: members and devices,
			boundaries (archived ones too), goals with their steps, check-ins with
			their acknowledgements, and the history of changes.

			  json       one JSON object with the keys members, boundaries, goals,
			             checkins, commitments, apologies, setbacks, rhythm,
			             questions, moments and history, shaped like the --json
			             output of the list commands (the default); answers
			             still sealed are left out
			  markdown   a readable document you could bring to a counsellor:
			             boundaries with who agreed and who has not yet, goals
			             with their progress, check-ins in order with replies
			  automerge  the Automerge documents themselves, one file per
			             document, for backup or another Automerge app; needs
			             --out DIR, and writes DIR/<document>.automerge (a / in a
			             document's name becomes -) and DIR/signatures.json
			             (the signatures that show who made each change)

			Without --out, or with --out -, json and markdown go to standard
			output. Files are written readable by you alone. Your partner can
			export the same things from their side: nothing here is hidden from
			either of you.
		`),
		Example: examples(`
			$ trustsync export --format markdown --out our-space.md
			$ trustsync export --format json > backup.json
			$ trustsync export --format automerge --out ./automerge-backup
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.Format {
			case "json", "markdown", "md", "automerge":
			default:
				return usageErrorf("--format must be json, markdown or automerge, not %q", opts.Format)
			}
			if opts.Format == "automerge" && opts.Out == "" {
				return usageErrorf("--format automerge writes one file per document, so it needs --out DIR")
			}
			if opts.Format == "automerge" && opts.Out == "-" {
				return usageErrorf("--format automerge writes one file per document, so it cannot go to standard output (--out -): give --out DIR")
			}
			if runF != nil {
				return runF(opts)
			}
			return exportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "json", "`FORMAT`: json, markdown or automerge")
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "", "write to `FILE` (a directory for automerge) instead of standard output")
	return cmd
}

// exportJSON is the object 'export --format json' prints.
type exportJSON struct {
	ExportedAt string         `json:"exported_at"`
	ExportedBy string         `json:"exported_by"`
	Device     string         `json:"device"`
	SpaceID    string         `json:"space_id"`
	Members    []memberJSON   `json:"members"`
	Boundaries []boundaryJSON `json:"boundaries"`
	Goals      []goalJSON     `json:"goals"`
	CheckIns   []checkinJSON  `json:"checkins"`
	practicesJSON
	History []changeJSON `json:"history"`
}

// everything is what an export holds.
type everything struct {
	roster     *roster
	boundaries []trustsync.Boundary
	goals      []trustsync.Goal
	checkins   []trustsync.CheckIn
	practices  *practices
	history    []trustsync.Change
}

func loadEverything(ctx context.Context, sp *crdt.Space) (*everything, error) {
	var (
		e   everything
		err error
	)
	if e.roster, err = loadRoster(ctx, sp); err != nil {
		return nil, err
	}
	if e.boundaries, err = sp.Boundaries(ctx, crdt.ListOptions{All: true}); err != nil {
		return nil, err
	}
	if e.goals, err = sp.Goals(ctx, crdt.ListOptions{All: true}); err != nil {
		return nil, err
	}
	if e.checkins, err = sp.CheckIns(ctx); err != nil {
		return nil, err
	}
	if e.practices, err = loadPractices(ctx, sp); err != nil {
		return nil, err
	}
	if e.history, err = sp.History(ctx, crdt.HistoryOptions{}); err != nil {
		return nil, err
	}
	return &e, nil
}

func exportRun(ctx context.Context, opts *ExportOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	if opts.Format == "automerge" {
		return exportAutomerge(ctx, opts, sp)
	}
	e, err := loadEverything(ctx, sp)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if opts.Format == "json" {
		err = writeJSON(&buf, e.json(f.Now()))
	} else {
		err = e.markdown(&buf, f.Now())
	}
	if err != nil {
		return err
	}
	out := buf.Bytes()
	if opts.Format != "json" {
		// A file is read on a terminal too (cat, less -R): what a partner
		// wrote is escaped as on standard output.
		out = []byte(escapeText(buf.String()))
	}
	if opts.Out == "" || opts.Out == "-" {
		_, err = f.IOStreams.Out.Write(out)
		return err
	}
	if err := writePrivateFile(opts.Out, out); err != nil {
		return err
	}
	fmt.Fprintf(f.IOStreams.ErrOut, "Exported to %s.\n", opts.Out)
	return nil
}

func (e *everything) json(now time.Time) exportJSON {
	r := e.roster
	v := exportJSON{
		ExportedAt: jsonTime(now),
		ExportedBy: r.self.MemberName,
		Device:     r.self.DeviceName,
		SpaceID:    r.self.SpaceID,
		Members:    r.membersJSON(),
		Boundaries: []boundaryJSON{},
		Goals:      []goalJSON{},
		CheckIns:   []checkinJSON{},
		History:    []changeJSON{},
	}
	for _, b := range e.boundaries {
		v.Boundaries = append(v.Boundaries, r.boundaryJSON(b))
	}
	for _, g := range e.goals {
		v.Goals = append(v.Goals, goalView(g))
	}
	for _, c := range e.checkins {
		v.CheckIns = append(v.CheckIns, checkinView(c))
	}
	v.practicesJSON = e.practices.json()
	for _, h := range e.history {
		v.History = append(v.History, r.changeJSON(h))
	}
	return v
}

// markdown writes a document a couple could read together or bring to a
// counsellor. Dates are absolute: the document is read later.
func (e *everything) markdown(w io.Writer, now time.Time) error {
	r := e.roster
	date := func(t time.Time) string {
		if t.IsZero() {
			return "an unknown date"
		}
		return t.Local().Format("2 January 2006")
	}
	stamp := func(t time.Time) string { return t.Local().Format("Monday 2 January 2006, 15:04") }
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	names := r.memberNames()
	title := "Our shared space"
	if len(names) == 2 {
		title = "Shared space of " + joinNames(names)
	}
	p("# %s\n\n", mdEscape(title))
	p("Exported by %s from %s on %s. Both partners can read and export everything below.\n\n",
		mdEscape(r.self.MemberName), mdEscape(r.self.DeviceName), stamp(now))
	if _, paired := r.partner(); !paired {
		p("Not paired yet: only what %s has written is here.\n\n", mdEscape(r.self.MemberName))
	}

	// Boundaries, agreed first, then those waiting, then the archived ones.
	p("## Boundaries\n\n")
	if len(e.boundaries) == 0 {
		p("No boundaries yet.\n\n")
	}
	var agreed, waiting, archived []trustsync.Boundary
	for _, bd := range e.boundaries {
		switch {
		case bd.Archived:
			archived = append(archived, bd)
		case bd.Agreed:
			agreed = append(agreed, bd)
		default:
			waiting = append(waiting, bd)
		}
	}
	writeBoundaries := func(heading string, list []trustsync.Boundary) {
		if len(list) == 0 {
			return
		}
		p("### %s\n\n", heading)
		for _, bd := range list {
			a := r.agreement(bd)
			p("- %s\n", mdEscape(oneLine(bd.Text)))
			p("  - Proposed by %s on %s.\n", mdEscape(bd.ProposedBy.Name), date(bd.ProposedAt))
			var who []string
			for _, ag := range bd.Agreements {
				if ag.Current {
					who = append(who, fmt.Sprintf("%s (%s)", mdEscape(ag.By.Name), date(ag.At)))
				}
			}
			if len(who) > 0 {
				p("  - Agreed by %s.\n", joinNames(who))
			} else {
				p("  - Nobody has agreed to these words yet.\n")
			}
			notYet := append([]string(nil), a.waitingFor...)
			if !a.partnerYet {
				notYet = append(notYet, "the partner who has not paired yet")
			}
			if len(notYet) > 0 {
				p("  - Not yet agreed by %s.\n", mdEscape(joinNames(notYet)))
			}
		}
		p("\n")
	}
	writeBoundaries("Agreed by both", agreed)
	writeBoundaries("Waiting for agreement", waiting)
	writeBoundaries("Archived", archived)

	p("## Goals\n\n")
	if len(e.goals) == 0 {
		p("No goals yet.\n\n")
	}
	for _, g := range e.goals {
		p("### %s\n\n", mdEscape(oneLine(g.Title)))
		if g.Why != "" {
			p("Why: %s\n\n", mdEscape(oneLine(g.Why)))
		}
		p("Added by %s on %s. Progress: %s.", mdEscape(g.CreatedBy.Name), date(g.CreatedAt), progress(g))
		if g.Done && g.DoneBy != nil {
			p(" Marked done by %s on %s.", mdEscape(g.DoneBy.Name), date(g.DoneAt))
		}
		p("\n\n")
		for _, s := range g.Steps {
			box := " "
			if s.Done {
				box = "x"
			}
			p("- [%s] %s\n", box, mdEscape(oneLine(s.Text)))
		}
		if len(g.Steps) > 0 {
			p("\n")
		}
	}

	p("## Check-ins\n\n")
	if len(e.checkins) == 0 {
		p("No check-ins yet.\n\n")
	}
	cs := append([]trustsync.CheckIn(nil), e.checkins...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].CreatedAt.Before(cs[j].CreatedAt) })
	for _, c := range cs {
		p("### %s, %s\n\n", mdEscape(c.Author.Name), stamp(c.CreatedAt))
		p("Mood: %s", moodText(c.Mood))
		if len(c.Feelings) > 0 {
			p(". Feelings: %s", mdEscape(strings.Join(c.Feelings, ", ")))
		}
		p(".\n\n")
		if c.Note != "" {
			p("%s\n\n", mdQuote(c.Note))
		}
		for _, kv := range [][2]string{{"Needs", c.Needs}, {"Concerns", c.Concerns}, {"Appreciation", c.Appreciation}} {
			if kv[1] != "" {
				p("%s: %s\n\n", kv[0], mdEscape(oneLine(kv[1])))
			}
		}
		if len(c.Acks) == 0 {
			p("Not acknowledged yet.\n\n")
		}
		for _, a := range c.Acks {
			p("Acknowledged by %s on %s", mdEscape(a.By.Name), stamp(a.At))
			if a.Reply != "" {
				p(", who replied:\n\n%s\n\n", mdQuote(a.Reply))
			} else {
				p(".\n\n")
			}
		}
	}

	e.practices.markdown(p, stamp)

	p("## History\n\n")
	if len(e.history) == 0 {
		p("No changes yet.\n")
	}
	for _, h := range e.history {
		p("- %s: %s on %s: %s\n", stamp(h.At), mdEscape(h.By.Name), mdEscape(r.deviceName(h.Device)), mdEscape(oneLine(h.Summary)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps user text from being read as Markdown markup.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_[]<>#|", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdQuote writes text as a block quote, keeping its lines.
func mdQuote(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("> "+mdEscape(l), " ")
	}
	return strings.Join(lines, "\n")
}

func exportAutomerge(ctx context.Context, opts *ExportOptions, sp *crdt.Space) error {
	f := opts.Factory
	if err := os.MkdirAll(opts.Out, 0o700); err != nil {
		return failf("cannot make %s: %v", opts.Out, err)
	}
	docs, err := sp.Docs(ctx)
	if err != nil {
		return err
	}
	n := 0
	// The signatures that cover each document's changes, by document and
	// change hash, so that the authorship of what was exported can still
	// be checked: a device's signature on a change covers that change and
	// that device's changes among its ancestors.
	type docSigs struct {
		Doc        string            `json:"doc"`
		Signatures map[string][]byte `json:"signatures"`
	}
	var all []docSigs
	for _, doc := range docs {
		sigs, err := sp.Signatures(ctx, doc)
		if err != nil {
			return fmt.Errorf("signatures of document %q: %w", doc, err)
		}
		all = append(all, docSigs{Doc: doc, Signatures: sigs})
		data, err := sp.Save(ctx, doc)
		if err != nil {
			return fmt.Errorf("save document %q: %w", doc, err)
		}
		if data == nil {
			continue
		}
		name := strings.ReplaceAll(doc, "/", "-") + ".automerge"
		path := filepath.Join(opts.Out, name)
		if err := writePrivateFile(path, data); err != nil {
			return err
		}
		fmt.Fprintln(f.IOStreams.Out, path)
		n++
	}
	b, err := json.MarshalIndent(struct {
		About string    `json:"about"`
		Docs  []docSigs `json:"docs"`
	}{"Ed25519 signatures by the devices that made the changes, over \"trustsync change v1\\0\" + document + \"\\0\" + the 32-byte change hash; base64. " +
		"A device's signature on a change covers that change and every change of the same device among its ancestors (the hash covers the hashes it depends on); " +
		"per device, the signatures of its latest changes are listed, and they cover all of its changes, except those made before signing began", all}, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(opts.Out, "signatures.json")
	if err := writePrivateFile(path, b); err != nil {
		return err
	}
	fmt.Fprintln(f.IOStreams.Out, path)
	fmt.Fprintf(f.IOStreams.ErrOut, "Exported %d Automerge documents to %s, with the signatures of their changes.\n", n, opts.Out)
	return nil
}

// writePrivateFile writes data to path, readable by its owner alone,
// replacing the file only once it is complete.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return failf("cannot write %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return failf("cannot write %s: %v", path, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return failf("cannot write %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return failf("cannot write %s: %v", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return failf("cannot write %s: %v", path, err)
	}
	return nil
}
