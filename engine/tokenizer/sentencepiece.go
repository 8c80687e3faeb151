package tokenizer

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of sentencepiece_model.proto.
const (
	modelPieces         = 1
	modelTrainerSpec    = 2
	modelNormalizerSpec = 3
	modelDenormalizer   = 5

	piecePiece = 1
	pieceScore = 2
	pieceType  = 3

	trainerModelType      = 3
	trainerWhitespaceSufx = 24
	trainerByteFallback   = 35
	trainerUnkSurface     = 44
	trainerBosPiece       = 46
	trainerEosPiece       = 47

	normCharsmap         = 2
	normAddDummyPrefix   = 3
	normRemoveExtraWS    = 4
	normEscapeSpaces     = 5
	modelTypeBPE         = 2
	modelTypeUnigram     = 1
	pieceTypeNormal      = 1
	pieceTypeUnknown     = 2
	pieceTypeControl     = 3
	pieceTypeUserDefined = 4
	pieceTypeUnused      = 5
	pieceTypeByte        = 6
)

// field is one decoded protobuf field: a varint, a fixed32 or a length-delimited
// payload.
type field struct {
	num    protowire.Number
	varint uint64
	bytes  []byte
}

// fields splits a protobuf message into its fields, skipping groups and fixed64.
func fields(b []byte, each func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrFormat, protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.varint = uint64(v)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %v", ErrFormat, num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := each(f); err != nil {
			return err
		}
	}
	return nil
}

// parseModel reads a SentencePiece ModelProto.
func parseModel(data []byte) (*Tokenizer, error) {
	t := &Tokenizer{unk: -1, bos: -1, eos: -1, unkSurface: defaultUnkSurface, fuseUnknown: true}
	// proto2 defaults of the fields we read.
	modelType := uint64(modelTypeUnigram)
	bosPiece, eosPiece := "<s>", "</s>"
	t.norm = normalizer{dummyPrefix: true, removeExtraSpaces: true, escapeSpaces: true}
	var sawTrainer bool

	err := fields(data, func(f field) error {
		switch f.num {
		case modelPieces:
			p, err := parsePiece(f.bytes, len(t.pieces))
			t.pieces = append(t.pieces, p)
			return err
		case modelTrainerSpec:
			sawTrainer = true
			return fields(f.bytes, func(f field) error {
				switch f.num {
				case trainerModelType:
					modelType = f.varint
				case trainerWhitespaceSufx:
					if f.varint != 0 {
						return fmt.Errorf("%w: treat_whitespace_as_suffix is not supported", ErrFormat)
					}
				case trainerByteFallback:
					t.byteFallback = f.varint != 0
				case trainerUnkSurface:
					t.unkSurface = string(f.bytes)
				case trainerBosPiece:
					bosPiece = string(f.bytes)
				case trainerEosPiece:
					eosPiece = string(f.bytes)
				}
				return nil
			})
		case modelNormalizerSpec:
			return fields(f.bytes, func(f field) error {
				switch f.num {
				case normCharsmap:
					if len(f.bytes) > 0 {
						return fmt.Errorf("%w: normalization rules (precompiled_charsmap) are not supported; LLaMA uses none", ErrFormat)
					}
				case normAddDummyPrefix:
					t.norm.dummyPrefix = f.varint != 0
				case normRemoveExtraWS:
					t.norm.removeExtraSpaces = f.varint != 0
				case normEscapeSpaces:
					t.norm.escapeSpaces = f.varint != 0
				}
				return nil
			})
		case modelDenormalizer:
			return fields(f.bytes, func(f field) error {
				if f.num == normCharsmap && len(f.bytes) > 0 {
					return fmt.Errorf("%w: denormalization rules are not supported", ErrFormat)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(t.pieces) == 0:
		return nil, fmt.Errorf("%w: no pieces (not a SentencePiece model?)", ErrFormat)
	case !sawTrainer:
		return nil, fmt.Errorf("%w: no trainer spec (not a SentencePiece model?)", ErrFormat)
	case modelType != modelTypeBPE:
		return nil, fmt.Errorf("%w: model type %d is not BPE (2); only BPE models are supported", ErrFormat, modelType)
	}
	// Decoding drops the dummy prefix sentencepiece adds or would have removed.
	t.norm.stripDecoded = t.norm.dummyPrefix || t.norm.removeExtraSpaces
	for i, p := range t.pieces {
		switch {
		case p.kind == kindByte && !t.byteFallback:
			return nil, fmt.Errorf("%w: byte piece %q although byte_fallback is off", ErrFormat, p.text)
		case p.kind == kindUnknown && t.unk >= 0:
			return nil, fmt.Errorf("%w: more than one unknown piece (%d and %d)", ErrFormat, t.unk, i)
		case p.kind == kindUnknown: // found by type, as sentencepiece does
			t.unk = i
		}
	}
	if t.unk < 0 {
		return nil, fmt.Errorf("%w: no unknown piece", ErrFormat)
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	// Like sentencepiece, the special ids are found by name, and only count as
	// such when the piece has the right type.
	for i, p := range t.pieces {
		switch {
		case p.text == bosPiece && p.kind == kindControl:
			t.bos = i
		case p.text == eosPiece && p.kind == kindControl:
			t.eos = i
		}
	}
	return t, nil
}

// parsePiece reads one ModelProto.SentencePiece.
func parsePiece(b []byte, id int) (piece, error) {
	p := piece{kind: kindNormal}
	err := fields(b, func(f field) error {
		switch f.num {
		case piecePiece:
			p.text = string(f.bytes)
		case pieceScore:
			p.score = math.Float32frombits(uint32(f.varint))
		case pieceType:
			switch f.varint {
			case pieceTypeNormal:
				p.kind = kindNormal
			case pieceTypeUnknown:
				p.kind = kindUnknown
			case pieceTypeControl:
				p.kind = kindControl
			case pieceTypeUserDefined:
				p.kind = kindUserDefined
			case pieceTypeUnused:
				p.kind = kindUnused
			case pieceTypeByte:
				p.kind = kindByte
			default:
				return fmt.Errorf("%w: piece %d has unknown type %d", ErrFormat, id, f.varint)
			}
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	if p.text == "" {
		return p, fmt.Errorf("%w: piece %d is empty", ErrFormat, id)
	}
	if p.kind == kindByte {
		b, ok := parseBytePiece(p.text)
		if !ok {
			return p, fmt.Errorf("%w: byte piece %d is %q, not <0xXX>", ErrFormat, id, p.text)
		}
		p.byte = b
	}
	return p, nil
}
