//===- Npy.cpp - Reading and writing NumPy .npy files ---------------------===//
//
// The format: magic "\x93NUMPY", a version, a little-endian header length,
// then a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), } padded with spaces, then the raw data.
//
//===----------------------------------------------------------------------===//

#include "cascade/Support/Npy.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir::cascade;
using llvm::StringRef;

StringRef mlir::cascade::getNpyDTypeName(NpyDType dtype) {
  switch (dtype) {
  case NpyDType::Float16:
    return "float16";
  case NpyDType::Float32:
    return "float32";
  case NpyDType::Float64:
    return "float64";
  case NpyDType::Int32:
    return "int32";
  case NpyDType::Int64:
    return "int64";
  }
  return "unknown";
}

double mlir::cascade::halfToDouble(uint16_t bits) {
  llvm::APFloat value(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
  bool lost;
  value.convert(llvm::APFloat::IEEEdouble(),
                llvm::APFloat::rmNearestTiesToEven, &lost);
  return value.convertToDouble();
}

uint16_t mlir::cascade::doubleToHalf(double input) {
  llvm::APFloat value(input);
  bool lost;
  value.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
  return static_cast<uint16_t>(value.bitcastToAPInt().getZExtValue());
}

static llvm::Error npyError(StringRef name, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 name + ": " + message);
}

/// The text after `'key':` in the header dict, trimmed.
static std::optional<StringRef> findHeaderValue(StringRef header,
                                                StringRef key) {
  std::string quoted = ("'" + key + "'").str();
  size_t at = header.find(quoted);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(at + quoted.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  return rest.ltrim();
}

llvm::Expected<NpyArray> mlir::cascade::parseNpy(StringRef bytes,
                                                 StringRef name) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return npyError(name, "not a .npy file (bad magic string)");
  uint8_t major = bytes[6];
  size_t headerLength, headerStart;
  if (major == 1) {
    headerLength = static_cast<uint8_t>(bytes[8]) |
                   (static_cast<uint8_t>(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return npyError(name, "truncated header");
    headerLength = 0;
    for (int i = 3; i >= 0; --i)
      headerLength = (headerLength << 8) | static_cast<uint8_t>(bytes[8 + i]);
    headerStart = 12;
  } else {
    return npyError(name, "unsupported .npy version " + llvm::Twine(major));
  }
  if (bytes.size() < headerStart + headerLength)
    return npyError(name, "truncated header");
  StringRef header = bytes.substr(headerStart, headerLength);

  std::optional<StringRef> descr = findHeaderValue(header, "descr");
  if (!descr || descr->size() < 2)
    return npyError(name, "header has no 'descr'");
  StringRef typeCode = descr->drop_front().take_until(
      [](char c) { return c == '\'' || c == '"'; });
  NpyDType dtype;
  size_t elementSize;
  if (typeCode == "<f2") {
    dtype = NpyDType::Float16, elementSize = 2;
  } else if (typeCode == "<f4") {
    dtype = NpyDType::Float32, elementSize = 4;
  } else if (typeCode == "<f8") {
    dtype = NpyDType::Float64, elementSize = 8;
  } else if (typeCode == "<i4") {
    dtype = NpyDType::Int32, elementSize = 4;
  } else if (typeCode == "<i8") {
    dtype = NpyDType::Int64, elementSize = 8;
  } else {
    return npyError(name, "dtype '" + typeCode +
                              "' is not supported; expected little-endian "
                              "float16, float32, float64, int32 or int64 "
                              "('<f2', '<f4', '<f8', '<i4', '<i8')");
  }

  std::optional<StringRef> fortran = findHeaderValue(header, "fortran_order");
  if (!fortran)
    return npyError(name, "header has no 'fortran_order'");
  if (fortran->starts_with("True"))
    return npyError(name, "Fortran-order arrays are not supported; save the "
                          "array in C order (numpy.ascontiguousarray)");

  std::optional<StringRef> shapeText = findHeaderValue(header, "shape");
  if (!shapeText || !shapeText->starts_with("("))
    return npyError(name, "header has no 'shape'");
  StringRef dims = shapeText->drop_front().take_until(
      [](char c) { return c == ')'; });
  NpyArray array;
  array.dtype = dtype;
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    int64_t size;
    if (part.getAsInteger(10, size) || size < 0)
      return npyError(name, "bad dimension '" + part + "' in shape");
    array.tensor.shape.push_back(size);
  }

  std::optional<int64_t> checkedCount =
      Tensor::checkedNumElements(array.tensor.shape);
  int64_t dataBytes;
  if (!checkedCount ||
      __builtin_mul_overflow(*checkedCount, static_cast<int64_t>(elementSize),
                             &dataBytes))
    return npyError(name, "shape " + array.tensor.getShapeString() +
                              " has more elements than 64 bits can count");
  int64_t count = *checkedCount;
  StringRef data = bytes.drop_front(headerStart + headerLength);
  if (static_cast<int64_t>(data.size()) != dataBytes)
    return npyError(name, "holds " + llvm::Twine(data.size()) +
                              " bytes of data but shape " +
                              array.tensor.getShapeString() + " of " +
                              getNpyDTypeName(dtype) + " needs " +
                              llvm::Twine(count * elementSize));
  array.tensor.data.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    const char *element = data.data() + i * elementSize;
    if (dtype == NpyDType::Float16) {
      uint16_t bits;
      std::memcpy(&bits, element, 2);
      array.tensor.data[i] = halfToDouble(bits);
    } else if (dtype == NpyDType::Float32) {
      float value;
      std::memcpy(&value, element, 4);
      array.tensor.data[i] = value;
    } else if (dtype == NpyDType::Int32) {
      int32_t value;
      std::memcpy(&value, element, 4);
      array.tensor.data[i] = value;
    } else if (dtype == NpyDType::Int64) {
      int64_t value;
      std::memcpy(&value, element, 8);
      if (value > (int64_t(1) << 53) || value < -(int64_t(1) << 53))
        return npyError(name, "int64 element " + llvm::Twine(i) + " (" +
                                  llvm::Twine(value) +
                                  ") is beyond 2^53, which the fp64 "
                                  "reference cannot hold exactly");
      array.tensor.data[i] = static_cast<double>(value);
    } else {
      std::memcpy(&array.tensor.data[i], element, 8);
    }
  }
  return array;
}

llvm::Expected<NpyArray> mlir::cascade::readNpy(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return npyError(path, "cannot read: " + buffer.getError().message());
  return parseNpy((*buffer)->getBuffer(), path);
}

llvm::Error mlir::cascade::writeNpy(StringRef path, const Tensor &tensor,
                                    NpyDType dtype) {
  std::string header = "{'descr': '";
  header += dtype == NpyDType::Float16   ? "<f2"
            : dtype == NpyDType::Float32 ? "<f4"
            : dtype == NpyDType::Int32   ? "<i4"
            : dtype == NpyDType::Int64   ? "<i8"
                                         : "<f8";
  header += "', 'fortran_order': False, 'shape': (";
  for (auto [i, size] : llvm::enumerate(tensor.shape))
    header += (i ? ", " : "") + std::to_string(size);
  // A one-element Python tuple needs its trailing comma: "(5,)".
  header += tensor.shape.size() == 1 ? ",)" : ")";
  header += ", }";
  // Pad so that the data starts at a multiple of 64 bytes, ending in '\n'.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return npyError(path, "cannot write: " + ec.message());
  os << "\x93NUMPY" << '\x01' << '\x00';
  os << static_cast<char>(header.size() & 0xff)
     << static_cast<char>((header.size() >> 8) & 0xff);
  os << header;
  for (double value : tensor.data) {
    if (dtype == NpyDType::Float16) {
      uint16_t bits = doubleToHalf(value);
      os.write(reinterpret_cast<const char *>(&bits), 2);
    } else if (dtype == NpyDType::Float32) {
      float narrowed = static_cast<float>(value);
      os.write(reinterpret_cast<const char *>(&narrowed), 4);
    } else if (dtype == NpyDType::Int32) {
      int32_t narrowed = static_cast<int32_t>(value);
      os.write(reinterpret_cast<const char *>(&narrowed), 4);
    } else if (dtype == NpyDType::Int64) {
      int64_t narrowed = static_cast<int64_t>(value);
      os.write(reinterpret_cast<const char *>(&narrowed), 8);
    } else {
      os.write(reinterpret_cast<const char *>(&value), 8);
    }
  }
  if (os.has_error())
    return npyError(path, "write failed");
  return llvm::Error::success();
}
