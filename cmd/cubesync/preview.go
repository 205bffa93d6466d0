package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/cubesync/cubesync/jobs"
	"github.com/cubesync/cubesync/sink/emulator"
)

// previewRows is how many rows of each table a run on the embedded emulator shows.
const previewRows = 5

// printPreview shows the first rows of each published table of an embedded-target job, so
// a newcomer sees what a real server would now hold. dataset is the dataset's name as it
// may be printed.
func printPreview(w io.Writer, emu *emulator.Server, job *jobs.Job, dataset, datasetID string) {
	fmt.Fprintf(w, "\ndataset %q (%s) on the embedded emulator now holds:\n", dataset, datasetID)
	for _, t := range job.Tables {
		tbl, err := emu.Table(datasetID, t.Name)
		if err != nil {
			fmt.Fprintf(w, "  table %s: %v\n", t.Name, err)
			continue
		}
		fmt.Fprintf(w, "\n  %s: %d rows\n", t.Name, len(tbl.Rows))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  ")
		for _, c := range tbl.Columns {
			fmt.Fprintf(tw, "%s\t", c.Name)
		}
		fmt.Fprintln(tw)
		for i, row := range tbl.Rows {
			if i == previewRows {
				break
			}
			fmt.Fprint(tw, "  ")
			for _, v := range row {
				if v == nil {
					v = "NULL"
				}
				fmt.Fprintf(tw, "%v\t", v)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nBrowse it after this run with: cubesync emulator --data-dir %s/emulator\n", localStateDir)
	fmt.Fprintln(w, "then GET http://127.0.0.1:8910/emulator/datasets/"+datasetID+"/tables/TABLE")
}
