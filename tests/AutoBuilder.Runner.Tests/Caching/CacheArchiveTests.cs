using System.Formats.Tar;
using System.Security.Cryptography;
using AutoBuilder.Runner.Caching;
using ZstdSharp;

namespace AutoBuilder.Runner.Tests.Caching;

public sealed class CacheArchiveTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task PackThenUnpack_GivesBackEveryFile_WithTheSameDigestOnBothSides()
    {
        var binary = RandomNumberGenerator.GetBytes(300_000);
        _temp.Write("cache/repository/junit/junit/4.13/junit-4.13.pom", "<project/>");
        _temp.Write("cache/repository/empty.txt", "");
        Directory.CreateDirectory(_temp.Combine("cache", "empty-folder"));
        await File.WriteAllBytesAsync(_temp.Combine("cache", "repository", "lib.jar"), binary);
        using var archive = new MemoryStream();

        var packed = await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;
        var unpacked = await CacheArchive.UnpackAsync(archive, _temp.Combine("restored"), packed.Sha256);

        Assert.Equal(archive.Length, packed.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(archive.ToArray())), packed.Sha256);
        Assert.Equal(packed, unpacked.Digest);
        Assert.Equal(3, unpacked.FileCount);
        Assert.Equal(binary, await File.ReadAllBytesAsync(_temp.Combine("restored", "repository", "lib.jar")));
        Assert.Equal("<project/>", await File.ReadAllTextAsync(_temp.Combine("restored", "repository", "junit", "junit", "4.13", "junit-4.13.pom")));
        Assert.True(File.Exists(_temp.Combine("restored", "repository", "empty.txt")));
        Assert.True(Directory.Exists(_temp.Combine("restored", "empty-folder")));
    }

    [Fact]
    public async Task PackThenUnpack_KeepsWhatWasExecutable_AndNothingElse()
    {
        // A wrapper's unpacked distribution (Gradle's, Maven's) or a package's tool must still run after a restore.
        _temp.Write("cache/wrapper/dists/bin/gradle", "#!/bin/sh\necho ran\n");
        _temp.Write("cache/wrapper/dists/lib/gradle.jar", "jar");
        File.SetUnixFileMode(_temp.Combine("cache", "wrapper", "dists", "bin", "gradle"), (UnixFileMode)0x1ED); // 0755
        using var archive = new MemoryStream();
        await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;

        await CacheArchive.UnpackAsync(archive, _temp.Combine("restored"));

        const UnixFileMode executable = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        Assert.NotEqual((UnixFileMode)0, File.GetUnixFileMode(_temp.Combine("restored", "wrapper", "dists", "bin", "gradle")) & UnixFileMode.UserExecute);
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(_temp.Combine("restored", "wrapper", "dists", "lib", "gradle.jar")) & executable);
    }

    /// <summary>
    /// Issue 18: no parent component of an entry is followed. A link already in the destination (as a build could have
    /// left one) where the archive has a folder stops the restore; nothing is written through it.
    /// </summary>
    [Theory]
    [InlineData("home")] // the first component
    [InlineData("home/x")] // a later one
    public async Task Unpack_ALinkWhereTheArchiveHasAFolder_IsNeverFollowed(string linked)
    {
        _temp.Write("cache/home/x/y/lib.jar", "jar");
        using var archive = new MemoryStream();
        await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;
        var elsewhere = _temp.Combine("elsewhere");
        Directory.CreateDirectory(elsewhere);
        var restored = _temp.Combine("restored");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(restored, linked))!);
        File.CreateSymbolicLink(Path.Combine(restored, linked), elsewhere);

        var ex = await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(archive, restored));

        Assert.Contains("through a file or link", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));
    }

    [Fact]
    public async Task Unpack_AnotherArchivesHash_IsRefused()
    {
        _temp.Write("cache/a.txt", "a");
        using var archive = new MemoryStream();
        await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;

        var ex = await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(archive, _temp.Combine("restored"), new string('0', 64)));

        Assert.Contains("not the recorded", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("flipped byte")]
    [InlineData("truncated")]
    [InlineData("not zstd")]
    public async Task Unpack_CorruptArchive_IsRefused(string damage)
    {
        await File.WriteAllBytesAsync(_temp.Combine("big.bin"), RandomNumberGenerator.GetBytes(200_000));
        Directory.CreateDirectory(_temp.Combine("cache"));
        File.Move(_temp.Combine("big.bin"), _temp.Combine("cache", "big.bin"));
        using var archive = new MemoryStream();
        var packed = await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        var bytes = archive.ToArray();
        bytes = damage switch
        {
            "flipped byte" => Flip(bytes, bytes.Length / 2),
            "truncated" => bytes[..(bytes.Length / 2)],
            _ => RandomNumberGenerator.GetBytes(4096),
        };

        await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(new MemoryStream(bytes), _temp.Combine("restored"), packed.Sha256));
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("a/../../escape.txt")]
    [InlineData("/tmp/escape.txt")]
    public async Task Unpack_EntryOutsideItsFolder_IsRefusedAndWritesNothingThere(string name)
    {
        var archive = await ArchiveOfAsync(writer => writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream("x"u8.ToArray()) }));
        var restored = _temp.Combine("deep", "restored");

        var ex = await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(archive, restored));

        Assert.Contains("outside its folder", ex.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_temp.Combine("deep", "escape.txt")));
        Assert.False(File.Exists(_temp.Combine("escape.txt")));
    }

    [Fact]
    public async Task Unpack_LinksAndSpecialFiles_AreLeftOut()
    {
        var archive = await ArchiveOfAsync(writer =>
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "passwd") { LinkName = "/etc/passwd" });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "shadow") { LinkName = "/etc/shadow" });
            writer.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "pipe"));
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "kept.txt") { DataStream = new MemoryStream("kept"u8.ToArray()) });
        });

        var result = await CacheArchive.UnpackAsync(archive, _temp.Combine("restored"));

        Assert.Equal(3, result.Skipped);
        Assert.Equal(1, result.FileCount);
        Assert.Equal(["kept.txt"], Directory.EnumerateFileSystemEntries(_temp.Combine("restored")).Select(Path.GetFileName));
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        bytes[at] ^= 0xFF;
        return bytes;
    }

    private static async Task<MemoryStream> ArchiveOfAsync(Action<TarWriter> write)
    {
        var archive = new MemoryStream();
        await using (var zstd = new CompressionStream(archive, 3, leaveOpen: true))
        {
            using var writer = new TarWriter(zstd, TarEntryFormat.Pax, leaveOpen: true);
            write(writer);
        }

        archive.Position = 0;
        return archive;
    }
}
