// Package sources turns the places cubesync reads from into streams of Arrow record batches.
// Each kind of source is a sibling package named after what it reads (parquetfile, postgres);
// this package only holds what they share.
//
// sources must not import jobs or sink: Arrow records are the only thing that crosses
// between a source and the sink.
package sources
