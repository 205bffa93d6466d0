package sink

import (
	"fmt"
	"strings"
)

// DataType is a Push Data API column dataType, as sent in a dataset model.
type DataType string

// The dataTypes the Push Data API accepts.
const (
	String     DataType = "STRING"
	Integer    DataType = "INTEGER"
	BigInteger DataType = "BIGINTEGER"
	Bool       DataType = "BOOL"
	Double     DataType = "DOUBLE"
	BigDecimal DataType = "BIGDECIMAL"
	Date       DataType = "DATE"
	Time       DataType = "TIME"
	DateTime   DataType = "DATETIME"
)

// DataTypes lists every dataType in the order the documentation gives them.
var DataTypes = []DataType{String, Integer, BigInteger, Bool, Double, BigDecimal, Date, Time, DateTime}

// ParseDataType reads a dataType case-insensitively, as the server does.
func ParseDataType(s string) (DataType, error) {
	u := DataType(strings.ToUpper(strings.TrimSpace(s)))
	for _, t := range DataTypes {
		if t == u {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown dataType %q (want one of STRING, INTEGER, BIGINTEGER, BOOL, DOUBLE, BIGDECIMAL, DATE, TIME, DATETIME)", s)
}

// Numeric reports whether values of t are JSON numbers; numeric columns become metrics by default.
func (t DataType) Numeric() bool {
	switch t {
	case Integer, BigInteger, Double, BigDecimal:
		return true
	}
	return false
}
