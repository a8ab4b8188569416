using System.Formats.Tar;
using System.Security.Cryptography;
using AutoBuilder.Runner.Caching;
using ZstdSharp;

namespace AutoBuilder.Runner.Tests.Caching;

/// <summary>
/// How UnpackAsync's two stages create files (open O_EXCL|O_NOFOLLOW on Linux): what already exists at a name, large
/// files across many queued chunks, a source that fails mid-way, and cancellation.
/// </summary>
public sealed class CacheArchiveWriteTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Unpack_OverALink_IsRefused_AndTheLinkTargetIsUntouched()
    {
        _temp.Write("outside.txt", "untouched");
        Directory.CreateDirectory(_temp.Combine("restored"));
        File.CreateSymbolicLink(_temp.Combine("restored", "a.txt"), _temp.Combine("outside.txt"));
        var archive = await ArchiveOfAsync(w => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "a.txt") { DataStream = new MemoryStream("evil"u8.ToArray()) }));

        var ex = await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(archive, _temp.Combine("restored")));

        Assert.Contains("over a folder or link", ex.Message, StringComparison.Ordinal);
        Assert.Equal("untouched", await File.ReadAllTextAsync(_temp.Combine("outside.txt")));
    }

    [Fact]
    public async Task Unpack_OverAFolder_IsRefused()
    {
        Directory.CreateDirectory(_temp.Combine("restored", "a.txt"));
        var archive = await ArchiveOfAsync(w => w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "a.txt") { DataStream = new MemoryStream("x"u8.ToArray()) }));

        await Assert.ThrowsAsync<CacheArchiveException>(() => CacheArchive.UnpackAsync(archive, _temp.Combine("restored")));
    }

    [Fact]
    public async Task Unpack_OverARegularFile_ReplacesItsContent()
    {
        _temp.Write("restored/a.txt", "a much longer old content");
        var archive = await ArchiveOfAsync(w =>
        {
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "a.txt") { DataStream = new MemoryStream("first"u8.ToArray()) });
            w.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "a.txt") { DataStream = new MemoryStream("new"u8.ToArray()) });
        });

        var result = await CacheArchive.UnpackAsync(archive, _temp.Combine("restored"));

        Assert.Equal(2, result.FileCount);
        Assert.Equal("new", await File.ReadAllTextAsync(_temp.Combine("restored", "a.txt")));
    }

    [Fact]
    public async Task Unpack_ManyFilesAndOneLargerThanTheQueue_ComeBackByteForByte()
    {
        var large = RandomNumberGenerator.GetBytes(20 << 20); // more than the 8 MiB queued between the stages
        await File.WriteAllBytesAsync(_temp.Combine("large.bin"), large);
        Directory.CreateDirectory(_temp.Combine("cache", "many"));
        File.Move(_temp.Combine("large.bin"), _temp.Combine("cache", "large.bin"));
        for (var i = 0; i < 500; i++)
        {
            _temp.Write($"cache/many/d{i % 7}/f{i}.txt", $"file {i}");
        }

        using var archive = new MemoryStream();
        var packed = await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;

        var result = await CacheArchive.UnpackAsync(archive, _temp.Combine("restored"), packed.Sha256);

        Assert.Equal(501, result.FileCount);
        Assert.Equal(large.Length + Enumerable.Range(0, 500).Sum(i => $"file {i}".Length), result.TotalBytes);
        Assert.Equal(large, await File.ReadAllBytesAsync(_temp.Combine("restored", "large.bin")));
        Assert.Equal("file 499", await File.ReadAllTextAsync(_temp.Combine("restored", "many", "d2", "f499.txt")));
    }

    [Fact]
    public async Task Unpack_SourceFailingMidway_SurfacesTheSourcesError()
    {
        await File.WriteAllBytesAsync(_temp.Combine("big.bin"), RandomNumberGenerator.GetBytes(4 << 20));
        Directory.CreateDirectory(_temp.Combine("cache"));
        File.Move(_temp.Combine("big.bin"), _temp.Combine("cache", "big.bin"));
        using var archive = new MemoryStream();
        await CacheArchive.PackAsync(_temp.Combine("cache"), archive);

        var ex = await Assert.ThrowsAsync<IOException>(() => CacheArchive.UnpackAsync(new FailingStream(archive.ToArray(), failAfter: 1 << 20), _temp.Combine("restored")));

        Assert.Contains("connection reset", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unpack_Cancelled_Throws()
    {
        _temp.Write("cache/a.txt", "a");
        using var archive = new MemoryStream();
        await CacheArchive.PackAsync(_temp.Combine("cache"), archive);
        archive.Position = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => CacheArchive.UnpackAsync(archive, _temp.Combine("restored"), cancellationToken: new CancellationToken(canceled: true)));
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

    /// <summary>A download that breaks after some bytes, as a dropped connection does.</summary>
    private sealed class FailingStream(byte[] bytes, int failAfter) : MemoryStream(bytes)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Position >= failAfter ? throw new IOException("connection reset by peer") : base.ReadAsync(buffer[..Math.Min(buffer.Length, 64 << 10)], cancellationToken);

        public override int Read(Span<byte> buffer) =>
            Position >= failAfter ? throw new IOException("connection reset by peer") : base.Read(buffer[..Math.Min(buffer.Length, 64 << 10)]);
    }
}
