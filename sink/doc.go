// Package sink owns everything on the MicroStrategy side of cubesync: the encoder that turns
// Arrow record batches into column-oriented JSON chunks, and the Push Data API client that
// uploads them. The emulator that stands in for a real server lives in sink/emulator.
//
// sink must not import jobs or sources: Arrow records are the only thing that crosses
// between a source and the sink.
package sink
