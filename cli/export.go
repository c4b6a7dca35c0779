package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
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
			             checkins, rhythm, commitments, apologies, setbacks,
			             questions, moments and history, shaped like the --json
			             output of the list commands (the default); answers
			             still sealed are left out
			  markdown   a readable document you could bring to a counsellor:
			             boundaries with who agreed and who has not yet, goals
			             with their progress, check-ins in order with replies,
			             the practices, and the history of what you both wrote,
			             every text whole; the pairing and syncing of devices
			             is left out
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

// kindExport is how an export writes the items of one kind of crdt.Kinds:
// the value under the kind's Export key of the JSON export, and the body of
// its Section of the markdown export (nil for the plumbing kinds, which a
// markdown export leaves out).
type kindExport struct {
	json     func(e *everything) any
	markdown func(e *everything, md *mdWriter)
}

// kindExports holds, by kind name, how an export writes every kind with an
// Export key. A kind exported inside its parent (steps, entries, devices)
// has none.
var kindExports = map[string]kindExport{
	crdt.KindMember:     {json: func(e *everything) any { return e.roster.membersJSON() }},
	crdt.KindBoundary:   {json: boundariesJSON, markdown: boundariesMarkdown},
	crdt.KindGoal:       {json: goalsJSON, markdown: goalsMarkdown},
	crdt.KindCheckIn:    {json: checkinsJSON, markdown: checkinsMarkdown},
	crdt.KindRhythm:     {json: rhythmExportJSON, markdown: rhythmMarkdown},
	crdt.KindCommitment: {json: commitmentsJSON, markdown: commitmentsMarkdown},
	crdt.KindApology:    {json: apologiesJSON, markdown: apologiesMarkdown},
	crdt.KindSetback:    {json: setbacksJSON, markdown: setbacksMarkdown},
	crdt.KindQuestion:   {json: questionsJSON, markdown: questionsMarkdown},
	crdt.KindMoment:     {json: momentsJSON, markdown: momentsMarkdown},
}

// orderedJSON is a JSON object whose keys keep their order.
type orderedJSON []struct {
	key   string
	value any
}

func (o *orderedJSON) add(key string, value any) {
	*o = append(*o, struct {
		key   string
		value any
	}{key, value})
}

// MarshalJSON writes the keys in order.
func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, kv := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(kv.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(kv.value)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", kv.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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

func (e *everything) json(now time.Time) orderedJSON {
	r := e.roster
	var v orderedJSON
	v.add("exported_at", jsonTime(now))
	v.add("exported_by", r.self.MemberName)
	v.add("device", r.self.DeviceName)
	v.add("space_id", r.self.SpaceID)
	for _, k := range crdt.Kinds() {
		if x, ok := kindExports[k.Name]; ok && k.Export != "" {
			v.add(k.Export, x.json(e))
		}
	}
	history := []changeJSON{}
	for _, h := range e.history {
		history = append(history, r.changeJSON(h))
	}
	v.add("history", history)
	return v
}

func boundariesJSON(e *everything) any {
	out := []boundaryJSON{}
	for _, b := range e.boundaries {
		out = append(out, e.roster.boundaryJSON(b))
	}
	return out
}

func goalsJSON(e *everything) any {
	out := []goalJSON{}
	for _, g := range e.goals {
		out = append(out, goalView(g))
	}
	return out
}

func checkinsJSON(e *everything) any {
	out := []checkinJSON{}
	for _, c := range e.checkins {
		out = append(out, checkinView(c))
	}
	return out
}

// mdWriter collects a markdown export. Dates are absolute: the document is
// read later.
type mdWriter struct {
	b strings.Builder
}

// p writes a formatted piece.
func (md *mdWriter) p(format string, a ...any) { fmt.Fprintf(&md.b, format, a...) }

// date names the day of t.
func (md *mdWriter) date(t time.Time) string {
	if t.IsZero() {
		return "an unknown date"
	}
	return t.Local().Format("2 January 2006")
}

// stamp names the day and minute of t.
func (md *mdWriter) stamp(t time.Time) string {
	return t.Local().Format("Monday 2 January 2006, 15:04")
}

// markdown writes a document a couple could read together or bring to a
// counsellor: one section per kind of crdt.Kinds that has one, in the
// table's order, then the history of what the couple wrote. The plumbing of
// pairing and syncing (members, devices, their addresses) is left out, and
// no text is cut short.
func (e *everything) markdown(w io.Writer, now time.Time) error {
	r := e.roster
	md := &mdWriter{}
	names := r.memberNames()
	title := "Our shared space"
	if len(names) == 2 {
		title = "Shared space of " + joinNames(names)
	}
	md.p("# %s\n\n", mdEscape(title))
	md.p("Exported by %s from %s on %s. Both partners can read and export everything below.\n\n",
		mdEscape(r.self.MemberName), mdEscape(r.self.DeviceName), md.stamp(now))
	if _, paired := r.partner(); !paired {
		md.p("Not paired yet: only what %s has written is here.\n\n", mdEscape(r.self.MemberName))
	}
	for _, k := range crdt.Kinds() {
		x, ok := kindExports[k.Name]
		if !ok || k.Section == "" || x.markdown == nil {
			continue
		}
		md.p("## %s\n\n", k.Section)
		x.markdown(e, md)
	}

	md.p("## History\n\n")
	texts := e.fullTexts()
	n := 0
	for _, h := range e.history {
		if crdt.IsPlumbing(h) {
			continue
		}
		md.p("- %s: %s on %s: %s\n", md.stamp(h.At), mdEscape(h.By.Name), mdEscape(r.deviceName(h.Device)),
			mdEscape(oneLine(uncut(h.Summary, texts))))
		n++
	}
	if n == 0 {
		md.p("No changes yet.\n")
	}
	_, err := io.WriteString(w, md.b.String())
	return err
}

// boundariesMarkdown writes the boundaries: agreed first, then those
// waiting, then the archived ones.
func boundariesMarkdown(e *everything, md *mdWriter) {
	r := e.roster
	if len(e.boundaries) == 0 {
		md.p("No boundaries yet.\n\n")
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
		md.p("### %s\n\n", heading)
		for _, bd := range list {
			a := r.agreement(bd)
			md.p("- %s\n", mdEscape(oneLine(bd.Text)))
			md.p("  - Proposed by %s on %s.\n", mdEscape(bd.ProposedBy.Name), md.date(bd.ProposedAt))
			var who []string
			for _, ag := range bd.Agreements {
				if ag.Current {
					who = append(who, fmt.Sprintf("%s (%s)", mdEscape(ag.By.Name), md.date(ag.At)))
				}
			}
			if len(who) > 0 {
				md.p("  - Agreed by %s.\n", joinNames(who))
			} else {
				md.p("  - Nobody has agreed to these words yet.\n")
			}
			notYet := append([]string(nil), a.waitingFor...)
			if !a.partnerYet {
				notYet = append(notYet, "the partner who has not paired yet")
			}
			if len(notYet) > 0 {
				md.p("  - Not yet agreed by %s.\n", mdEscape(joinNames(notYet)))
			}
		}
		md.p("\n")
	}
	writeBoundaries("Agreed by both", agreed)
	writeBoundaries("Waiting for agreement", waiting)
	writeBoundaries("Archived", archived)
}

// goalsMarkdown writes the goals with their steps and progress.
func goalsMarkdown(e *everything, md *mdWriter) {
	if len(e.goals) == 0 {
		md.p("No goals yet.\n\n")
	}
	for _, g := range e.goals {
		md.p("### %s\n\n", mdEscape(oneLine(g.Title)))
		if g.Why != "" {
			md.p("Why: %s\n\n", mdEscape(oneLine(g.Why)))
		}
		md.p("Added by %s on %s. Progress: %s.", mdEscape(g.CreatedBy.Name), md.date(g.CreatedAt), progress(g))
		if g.Done && g.DoneBy != nil {
			md.p(" Marked done by %s on %s.", mdEscape(g.DoneBy.Name), md.date(g.DoneAt))
		}
		md.p("\n\n")
		for _, s := range g.Steps {
			box := " "
			if s.Done {
				box = "x"
			}
			md.p("- [%s] %s\n", box, mdEscape(oneLine(s.Text)))
		}
		if len(g.Steps) > 0 {
			md.p("\n")
		}
	}
}

// checkinsMarkdown writes the check-ins in the order they were written,
// with their acknowledgements and replies.
func checkinsMarkdown(e *everything, md *mdWriter) {
	if len(e.checkins) == 0 {
		md.p("No check-ins yet.\n\n")
	}
	cs := append([]trustsync.CheckIn(nil), e.checkins...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].CreatedAt.Before(cs[j].CreatedAt) })
	for _, c := range cs {
		md.p("### %s, %s\n\n", mdEscape(c.Author.Name), md.stamp(c.CreatedAt))
		md.p("Mood: %s", moodText(c.Mood))
		if len(c.Feelings) > 0 {
			md.p(". Feelings: %s", mdEscape(strings.Join(c.Feelings, ", ")))
		}
		md.p(".\n\n")
		if c.Note != "" {
			md.p("%s\n\n", mdQuote(c.Note))
		}
		for _, kv := range [][2]string{{"Needs", c.Needs}, {"Concerns", c.Concerns}, {"Appreciation", c.Appreciation}} {
			if kv[1] != "" {
				md.p("%s: %s\n\n", kv[0], mdEscape(oneLine(kv[1])))
			}
		}
		if len(c.Acks) == 0 {
			md.p("Not acknowledged yet.\n\n")
		}
		for _, a := range c.Acks {
			md.p("Acknowledged by %s on %s", mdEscape(a.By.Name), md.stamp(a.At))
			if a.Reply != "" {
				md.p(", who replied:\n\n%s\n\n", mdQuote(a.Reply))
			} else {
				md.p(".\n\n")
			}
		}
	}
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
		if errors.Is(err, syscall.ENOTDIR) {
			if fi, serr := os.Stat(opts.Out); serr == nil && !fi.IsDir() {
				return failf("cannot export to %s: it is a file, and --format automerge writes a directory of files: give --out a new or empty directory", opts.Out)
			}
		}
		return failf("cannot make the directory %s: %s", opts.Out, fileProblem(err, filepath.Dir(opts.Out)))
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
	fail := func(err error) error {
		return &userError{msg: fmt.Sprintf("cannot write %s: %s", path, fileProblem(err, dir)), err: err}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	return nil
}

// fileProblem says in words why a file in dir could not be written,
// without the name of the temporary file it was written to first.
func fileProblem(err error, dir string) string {
	var (
		pathErr *fs.PathError
		linkErr *os.LinkError
	)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("the directory %s does not exist", dir)
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Sprintf("%s is not a directory", dir)
	case errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.EEXIST):
		return "it is a directory"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.EROFS):
		return "the file system is read-only"
	case errors.Is(err, syscall.ENOSPC):
		return "no space left on the disk"
	case errors.As(err, &pathErr):
		return pathErr.Err.Error()
	case errors.As(err, &linkErr):
		return linkErr.Err.Error()
	}
	return err.Error()
}

// fullTexts returns every text the export holds whole, by the words a
// history summary quotes of it: whitespace folded to single spaces. Sealed
// answers, which an export never carries, are not among them.
func (e *everything) fullTexts() []string {
	var out []string
	add := func(ss ...string) {
		for _, s := range ss {
			if s = strings.Join(strings.Fields(s), " "); s != "" {
				out = append(out, s)
			}
		}
	}
	replies := func(acks []trustsync.Ack) {
		for _, a := range acks {
			add(a.Reply)
		}
	}
	for _, b := range e.boundaries {
		add(b.Text)
	}
	for _, g := range e.goals {
		add(g.Title, g.Why)
		for _, s := range g.Steps {
			add(s.Text)
		}
	}
	for _, c := range e.checkins {
		add(c.Note, c.Needs, c.Concerns, c.Appreciation)
		replies(c.Acks)
	}
	p := e.practices
	for _, c := range p.commitments {
		add(c.Text)
		for _, en := range c.Entries {
			add(en.Note)
			replies(en.Acks)
		}
	}
	for _, a := range p.apologies {
		add(a.Happened, a.Impact, a.Responsibility, a.Different)
		replies(a.Acks)
	}
	for _, sb := range p.setbacks {
		add(sb.Text)
		for _, f := range sb.Feelings {
			add(f.Text)
		}
		for _, pl := range sb.Plans {
			add(pl.Text)
		}
	}
	for _, q := range p.questions {
		add(q.Text)
		for _, a := range exported(q).Answers {
			if a.Readable {
				add(a.Text)
			}
		}
	}
	for _, m := range p.moments {
		add(m.Text)
	}
	return out
}

// quoted matches a text a history summary quotes, as Go quotes it.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// uncut returns a history summary with every text it quotes cut short
// ("I say when I need a bre…") given whole, from texts (see fullTexts).
// A text no longer held as it was quoted (edited since) is named as such
// instead of left cut.
func uncut(summary string, texts []string) string {
	return quoted.ReplaceAllStringFunc(summary, func(q string) string {
		s, err := strconv.Unquote(q)
		if err != nil {
			return q
		}
		start, cut := strings.CutSuffix(s, "…")
		if !cut {
			return q
		}
		whole := ""
		for _, t := range texts {
			if t != s && strings.HasPrefix(t, start) && (whole == "" || len(t) < len(whole)) {
				whole = t
			}
		}
		if whole == "" {
			return "(words since changed: see above)"
		}
		return strconv.Quote(whole)
	})
}
