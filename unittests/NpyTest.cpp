//===- NpyTest.cpp - .npy reading and writing -----------------------------===//

#include "cascade/Support/Npy.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace mlir::cascade;

namespace {

std::string temporaryPath(const char *name) {
  llvm::SmallString<128> path;
  llvm::sys::path::system_temp_directory(/*ErasedOnReboot=*/true, path);
  llvm::sys::path::append(path, std::string("cascade-npytest-") + name);
  return path.str().str();
}

TEST(Npy, RoundTripsEveryDType) {
  Tensor tensor({2, 3});
  tensor.data = {0.0, -1.5, 2.25, 65504.0, 1e-3, -0.0};
  for (NpyDType dtype :
       {NpyDType::Float16, NpyDType::Float32, NpyDType::Float64}) {
    std::string path = temporaryPath("roundtrip.npy");
    ASSERT_FALSE(bool(writeNpy(path, tensor, dtype)));
    llvm::Expected<NpyArray> read = readNpy(path);
    ASSERT_TRUE(bool(read)) << llvm::toString(read.takeError());
    EXPECT_EQ(read->dtype, dtype);
    EXPECT_EQ(read->tensor.shape, tensor.shape);
    for (size_t i = 0; i < tensor.data.size(); ++i) {
      double tolerance = dtype == NpyDType::Float16   ? 1e-3
                         : dtype == NpyDType::Float32 ? 1e-7
                                                      : 0.0;
      EXPECT_NEAR(read->tensor.data[i], tensor.data[i],
                  tolerance * std::fabs(tensor.data[i]));
    }
  }
}

TEST(Npy, OneDimensionalShapeKeepsItsComma) {
  Tensor tensor({5}, 1.0);
  std::string path = temporaryPath("vector.npy");
  ASSERT_FALSE(bool(writeNpy(path, tensor, NpyDType::Float64)));
  llvm::Expected<NpyArray> read = readNpy(path);
  ASSERT_TRUE(bool(read));
  EXPECT_EQ(read->tensor.shape, llvm::SmallVector<int64_t>({5}));
}

TEST(Npy, HalfConversionIsExactOnRepresentableValues) {
  EXPECT_EQ(halfToDouble(doubleToHalf(1.0)), 1.0);
  EXPECT_EQ(halfToDouble(doubleToHalf(65504.0)), 65504.0);
  EXPECT_TRUE(std::isinf(halfToDouble(doubleToHalf(1e6))));
  EXPECT_EQ(halfToDouble(0x3c00), 1.0);
}

TEST(Npy, IntegerArraysRoundTrip) {
  // Document ids: int32 and int64 arrays read back exactly.
  Tensor ids({2, 3});
  ids.data = {0, 0, 1, 7, 7, -2};
  for (NpyDType dtype : {NpyDType::Int32, NpyDType::Int64}) {
    llvm::SmallString<64> path;
    ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("ids", "npy", path));
    ASSERT_FALSE(bool(writeNpy(path, ids, dtype)));
    llvm::Expected<NpyArray> read = readNpy(path);
    llvm::sys::fs::remove(path);
    ASSERT_TRUE(bool(read)) << llvm::toString(read.takeError());
    EXPECT_EQ(read->dtype, dtype);
    EXPECT_EQ(read->tensor.shape, ids.shape);
    EXPECT_EQ(read->tensor.data, ids.data);
  }
}

TEST(Npy, RejectsBadFiles) {
  auto errorOf = [](llvm::StringRef bytes) {
    llvm::Expected<NpyArray> read = parseNpy(bytes, "x.npy");
    EXPECT_FALSE(bool(read));
    return read ? std::string() : llvm::toString(read.takeError());
  };
  EXPECT_NE(errorOf("hello").find("not a .npy file"), std::string::npos);
  std::string header = "{'descr': '<u4', 'fortran_order': False, "
                       "'shape': (1,), }";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) +
                      char(header.size()) + char(0) + header + "abcd";
  EXPECT_NE(errorOf(bytes).find("dtype '<u4' is not supported"),
            std::string::npos);
  // An int64 the fp64 reference cannot hold exactly.
  header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }";
  int64_t huge = (int64_t(1) << 60) + 1;
  bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) +
          char(0) + header + std::string(reinterpret_cast<char *>(&huge), 8);
  EXPECT_NE(errorOf(bytes).find("beyond 2^53"), std::string::npos);
  header = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }";
  bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) +
          header + "abcd";
  EXPECT_NE(errorOf(bytes).find("Fortran-order"), std::string::npos);
  header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) +
          header + "abcd";
  EXPECT_NE(errorOf(bytes).find("needs 12"), std::string::npos);
}

TEST(Npy, MissingFileNamesThePath) {
  llvm::Expected<NpyArray> read = readNpy("/nonexistent/q.npy");
  ASSERT_FALSE(bool(read));
  EXPECT_NE(llvm::toString(read.takeError()).find("/nonexistent/q.npy"),
            std::string::npos);
}

} // namespace
